"""An ``mmengine.fileio`` storage backend that serves bytes from a dict: what a remote store
looks like to code that reads through ``backend_args`` (tests of remote reading)."""
from mmengine.fileio import BaseStorageBackend, register_backend


class MemoryStorageBackend(BaseStorageBackend):
    """Files are ``MemoryStorageBackend.files[path] = bytes``; a missing path raises
    ``FileNotFoundError`` as the local backend does."""
    files = {}

    def get(self, filepath) -> bytes:
        if str(filepath) not in self.files:
            raise FileNotFoundError(filepath)
        return self.files[str(filepath)]

    def get_text(self, filepath, encoding='utf-8') -> str:
        return self.get(filepath).decode(encoding)


def memory_backend_args(name: str = 'cldyn_test_memory') -> dict:
    """Register :class:`MemoryStorageBackend` under ``name``; the ``backend_args`` that select
    it."""
    register_backend(name, MemoryStorageBackend, force=True)
    return dict(backend=name)
