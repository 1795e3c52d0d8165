print("btf-trim: not yet implemented")
