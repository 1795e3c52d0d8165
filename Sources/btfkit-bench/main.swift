print("btfkit-bench: not yet implemented")
