"""Containers around pickles and archives: PyTorch zip/legacy/tar, TorchScript, NumPy, joblib.

Every container a model loader reads is parsed here without loading anything: zip archives
with a lenient central-directory reader that accepts what torch's miniz accepts
(:mod:`.zipreader`), tar archives, ``.npy``/``.npz`` headers, and gzip/bz2/xz/zlib streams
decompressed with bounded memory (:mod:`.streams`). Every pickle found is handed to the symbolic
pickle VM (:func:`mlchain.scan.pickle.vm.scan_pickle`); tensor storages are never read.
"""
