"""pyiceberg's S3 file IO on the operator's session's live credentials (console/aws.py).

pyarrow's S3 file system takes fixed keys and never refreshes them, so SSO or assumed-role
credentials copied into it at start expire in the middle of a long `erase` or `migrate`.
`RefreshingFileIO` asks botocore for the credentials on every file it opens (botocore refreshes
them shortly before they expire) and builds pyiceberg's PyArrow file IO again whenever they have
changed. It relies on pyiceberg's public FileIO interface (`new_input`, `new_output`,
`delete`, and a `py-io-impl` class built from the catalog's properties), which every read and
write of pyiceberg 0.12 goes through, and on one behaviour beyond it: pyiceberg hands the
catalog's properties to the file IO as they are, so the credentials object itself passes in the
`CREDENTIALS` property (pyiceberg passes its own `botocore_session` property the same way).
tests/integration/console/test_credentials.py fails the day either changes.
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.credentials import Credentials
from pyiceberg.io import FileIO, InputFile, OutputFile
from pyiceberg.io.pyarrow import PyArrowFileIO

from console.aws import CREDENTIALS

S3_KEYS = ("s3.access-key-id", "s3.secret-access-key", "s3.session-token")


class RefreshingFileIO(FileIO):
    """PyArrow file IO signing with the current credentials of the `CREDENTIALS` property."""

    def __init__(self, properties: dict[str, Any]) -> None:
        super().__init__(properties)
        credentials = properties.get(CREDENTIALS)
        if not isinstance(credentials, Credentials):
            raise TypeError(f"RefreshingFileIO needs botocore credentials in {CREDENTIALS!r}")
        self._credentials = credentials
        self._lock = threading.Lock()
        self._keys: tuple[str, str, str | None] | None = None
        self._io: PyArrowFileIO | None = None
        self.builds = 0  # PyArrow file IOs built: 1, plus one per change of credentials seen

    def current(self) -> PyArrowFileIO:
        """A PyArrow file IO with the credentials as they are now."""
        frozen = self._credentials.get_frozen_credentials()  # refreshed first, when due
        keys = (frozen.access_key, frozen.secret_key, frozen.token)
        with self._lock:
            if self._io is None or keys != self._keys:
                plain = {
                    name: value
                    for name, value in self.properties.items()
                    if isinstance(value, str) and name not in S3_KEYS
                }
                plain |= {name: value for name, value in zip(S3_KEYS, keys, strict=True) if value}
                self._io, self._keys = PyArrowFileIO(plain), keys
                self.builds += 1
            return self._io

    def new_input(self, location: str) -> InputFile:
        return self.current().new_input(location)

    def new_output(self, location: str) -> OutputFile:
        return self.current().new_output(location)

    def delete(self, location: str | InputFile | OutputFile) -> None:
        self.current().delete(location)
