"""Writes the .npy fixtures of tests/test_npy.cpp with NumPy itself, so that
the reader is checked against files it did not write. Run from this folder:
    /usr/bin/python3 make_fixtures.py
The arrays are small and their values are restated in tests/test_npy.cpp."""
import numpy as np

# 2 x 3 with values that stress the round trip (subnormal, large, negative zero).
a = np.array([[0.5, -1.25, 3.0], [1e-310, 6.02214076e23, -0.0]])
b = np.arange(24, dtype=np.int64).reshape(2, 3, 4) - 7  # 3-D, integers

np.save("f8_c.npy", a)
np.save("f8_fortran.npy", np.asfortranarray(a))
np.save("f4_c.npy", a.astype("<f4"))
np.save("i4_fortran.npy", np.asfortranarray(b.astype("<i4")))
np.save("i8_c.npy", b)
np.save("f8_1d.npy", np.array([1.0, 2.0, 3.0]))
np.save("f8_big_endian.npy", a.astype(">f8"))
np.save("c16.npy", a.astype(np.complex128))
with open("f8_v2.npy", "wb") as f:
    np.lib.format.write_array(f, a, version=(2, 0))
with open("f8_v3_fortran.npy", "wb") as f:
    np.lib.format.write_array(f, np.asfortranarray(b.astype("<f8")), version=(3, 0))
nan = a.copy()
nan[1, 1] = np.nan
np.save("f8_nan.npy", nan)
