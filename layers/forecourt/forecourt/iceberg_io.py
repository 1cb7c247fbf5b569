"""The FileIO pyiceberg uses for the lake (named by the catalog's ``py-io-impl`` property).

pyiceberg's Arrow FileIO on the package's own S3 filesystem (``aws.s3_filesystem``): Iceberg
metadata is read and written with the same endpoint, region and options as the data files — in
particular delayed open, which writes each of the three small files of a commit (manifest, manifest
list, table metadata) with one PutObject instead of a three-request multipart upload.
"""

from __future__ import annotations

from pyarrow.fs import FileSystem
from pyiceberg.io.pyarrow import PyArrowFileIO

from forecourt import aws


class LakeFileIO(PyArrowFileIO):
    def _initialize_s3_fs(self, netloc: str | None) -> FileSystem:
        return aws.s3_filesystem()
