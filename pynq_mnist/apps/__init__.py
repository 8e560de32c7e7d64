"""The applications on top of the library: the command line, benchmarks, the draw-a-digit
server and the MNIST download."""
