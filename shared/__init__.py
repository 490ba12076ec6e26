"""The ground floor under `console` and `local`: what both command lines use (argument types,
tables and durations on a terminal, progress, percentiles). It imports neither of them."""
