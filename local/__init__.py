"""Embedded stand-ins that run the whole archiver on a laptop: IVS simulator, moto, DuckDB."""
