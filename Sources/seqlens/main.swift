print("seqlens")
