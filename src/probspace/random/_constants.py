"""Constants shared by every rung of the counter-based generator.

Philox4x32-10 (Salmon et al., SC'11).  The normal transform is Box-Muller evaluated with
our own polynomial log and sin/cos that use only +, -, *, /, floor and sqrt (all correctly
rounded in IEEE 754), so the generic, Numba and CuPy rungs produce bit-identical numbers.
"""
import math

PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
PHILOX_ROUNDS = 10
MASK32 = 0xFFFFFFFF

TWO_M53 = 2.0 ** -53
TWO_M26 = 2.0 ** -26  # unused by kernels, kept for documentation of the 53-bit layout
SQRT2 = 1.4142135623730951
LN2_HI = 6.93147180369123816490e-01  # fdlibm split: e * LN2_HI is exact for |e| < 2**11
LN2_LO = 1.90821492927058770002e-10
PI_4 = 0.78539816339744830962

# log(m) = 2 f (1 + s/3 + s^2/5 + ...), f = (m-1)/(m+1), s = f^2, |f| <= 0.1716
LOG_COEFFS = tuple(1.0 / (2 * k + 1) for k in range(12))
# Taylor coefficients on [0, pi/4]: sin a = a * sum (-1)^k a^{2k}/(2k+1)!, cos a = sum (-1)^k a^{2k}/(2k)!
SIN_COEFFS = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(10))
COS_COEFFS = tuple((-1) ** k / math.factorial(2 * k) for k in range(10))

# Domain tags placed in counter word 1 when deriving child stream ids.
SPAWN_TAG = 0x5350574E  # "SPWN"
