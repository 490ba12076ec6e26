"""An IVS Real-Time simulator: the rest-json API on 127.0.0.1, driven by a scenario file.

`Simulator(scenario, tps=5, latency_ms=0, fault_rate=0, seed=0)` is a context manager that
serves on a free port and exposes `.endpoint_url`, `.stats()` and mutation hooks;
`serve_forever(path, ...)` is the `python -m local simulate` command. Layers: `model` (the
botocore model: validation, output shaping), `store` (the data), `pagination` (tokens),
`api` (the operations), `quota` and `faults`, `server` (HTTP). Live replay
(`Simulator(..., live=True, speed=60)`): `clock` (simulated time), `live` (what the API
shows at the simulated now), `stage_events` (best-effort IVS Stage Update events).
"""

from local.simulator.server import Simulator, serve_forever

__all__ = ["Simulator", "serve_forever"]
