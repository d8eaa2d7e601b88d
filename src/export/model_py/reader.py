def read_safetensors(path):
    """The tensors of a safetensors file, read with torch alone: 8 bytes of header length
    (little-endian), a JSON header (each tensor's dtype, shape and byte range), then the raw
    little-endian data. (The `safetensors` package reads the same file.)"""
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    tensors = {}
    for name, entry in header.items():
        start, end = (8 + n + offset for offset in entry["data_offsets"])
        dtype = dtypes[entry["dtype"]]
        if end > start:
            flat = torch.frombuffer(bytearray(data[start:end]), dtype=dtype)
        else:
            flat = torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"])
    return tensors
