"""The operator's console (`ivs-archive`): commands that look at an archive and a deployment."""
