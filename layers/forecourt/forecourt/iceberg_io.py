"""The FileIO pyiceberg uses for the lake (named by the catalog's ``py-io-impl`` property).

pyiceberg's Arrow FileIO on the package's own S3 filesystem (``aws.s3_filesystem``): Iceberg
metadata is read and written with the same endpoint, region and options as the data files — in
particular delayed open, which writes each of the three small files of a commit (manifest, manifest
list, table metadata) with one PutObject instead of a three-request multipart upload.

Writing a table metadata file does not first ask whether it exists: its name carries a fresh UUID
(``<version>-<uuid>.metadata.json``), so the check — a HEAD and, on S3, a LIST that grows with the
bucket — cannot find anything, and it would not make the write atomic anyway (the catalog's
conditional update does).
"""

from __future__ import annotations

from pyarrow.fs import FileSystem
from pyiceberg.io import OutputStream
from pyiceberg.io.pyarrow import BUFFER_SIZE, ONE_MEGABYTE, PyArrowFile, PyArrowFileIO

from forecourt import aws


class _NewFile(PyArrowFile):
    def create(self, overwrite: bool = False) -> OutputStream:
        return super().create(overwrite=True)


class LakeFileIO(PyArrowFileIO):
    def _initialize_s3_fs(self, netloc: str | None) -> FileSystem:
        return aws.s3_filesystem()

    def new_output(self, location: str) -> PyArrowFile:
        if not location.endswith(".metadata.json"):
            return super().new_output(location)
        scheme, netloc, path = self.parse_location(location, self.properties)
        return _NewFile(
            fs=self.fs_by_scheme(scheme, netloc),
            location=location,
            path=path,
            buffer_size=int(self.properties.get(BUFFER_SIZE, ONE_MEGABYTE)),
        )
