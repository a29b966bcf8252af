"""numpy, imported on first use: `nnc check` never runs a reference function, so it never pays for numpy."""


class _LazyNumpy:
    def __getattr__(self, name: str):
        import numpy
        return getattr(numpy, name)


np = _LazyNumpy()
