"""growth: grow neural networks in depth and width; how, where and when."""
