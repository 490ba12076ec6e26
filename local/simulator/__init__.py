"""An IVS Real-Time simulator: the rest-json API on 127.0.0.1, driven by a scenario file."""
