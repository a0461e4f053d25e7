"""SHA-512 crypt (``$6$``) in plain Python, for the lab hosts' ``/etc/shadow``.

The lab has to run on machines that have Python and nothing else, so it cannot count on an
``openssl`` binary to hash passwords, and the standard library's ``crypt`` module is deprecated
and gone in Python 3.13. The lab's built-in sudo also has to *check* a password against the
stored hash. This module does both, following Ulrich Drepper's "Unix crypt using SHA-256 and
SHA-512" (the algorithm glibc and libxcrypt implement), so the hashes are the ones real hosts
write and real tools accept.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIX = "$6$"
ROUNDS_PREFIX = "rounds="
ROUNDS_DEFAULT = 5000
ROUNDS_MIN = 1000
ROUNDS_MAX = 999_999_999
SALT_MAX = 16

# The specification's order of digest bytes for the final encoding: each triple becomes four
# characters; the last byte alone becomes two.
_PERMUTATION = (
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26),
    (6, 27, 48), (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32),
    (12, 33, 54), (34, 55, 13), (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38),
    (18, 39, 60), (40, 61, 19), (62, 20, 41),
)  # fmt: skip


def _sha512(*parts: bytes) -> bytes:
    """One SHA-512 digest over the concatenated parts."""
    digest = hashlib.sha512()
    for part in parts:
        digest.update(part)
    return digest.digest()


def _stretch(block: bytes, length: int) -> bytes:
    """``block`` repeated and cut to ``length`` bytes: the spec's "P sequence" and "S sequence"."""
    return (block * (length // len(block) + 1))[:length]


def _initial_digest(key: bytes, salt: bytes) -> bytes:
    """Digest A of the specification (steps 1-12), mixing key, salt and the alternate digest B."""
    alternate = _sha512(key, salt, key)
    parts = [key, salt, _stretch(alternate, len(key))]
    length = len(key)
    while length:
        parts.append(alternate if length & 1 else key)
        length >>= 1
    return _sha512(*parts)


def _rounds(digest: bytes, p_seq: bytes, s_seq: bytes, rounds: int) -> bytes:
    """The deliberately slow loop (step 21) that makes guessing passwords expensive."""
    for i in range(rounds):
        parts = [p_seq if i & 1 else digest]
        if i % 3:
            parts.append(s_seq)
        if i % 7:
            parts.append(p_seq)
        parts.append(digest if i & 1 else p_seq)
        digest = _sha512(*parts)
    return digest


def _encode(digest: bytes) -> str:
    """Crypt's own base 64: little-endian 6-bit groups over the permuted digest bytes."""
    chars = []
    for high, middle, low in _PERMUTATION:
        word = digest[high] << 16 | digest[middle] << 8 | digest[low]
        chars.extend(ALPHABET[(word >> shift) & 0x3F] for shift in (0, 6, 12, 18))
    word = digest[63]
    chars.extend(ALPHABET[(word >> shift) & 0x3F] for shift in (0, 6))
    return "".join(chars)


def sha512_crypt(password: str | bytes, salt: str, rounds: int | None = None) -> str:
    """The ``$6$`` hash of ``password``, as glibc's ``crypt(password, "$6$[rounds=N$]salt")``.

    As in the specification, the salt ends at its first ``$`` and keeps at most 16 characters;
    rounds are clamped to 1000..999999999, and ``rounds=N$`` is written whenever rounds were
    asked for (even 5000), because that is how glibc records an explicit count.
    """
    key = password.encode() if isinstance(password, str) else password
    salt = salt.split("$", 1)[0][:SALT_MAX]
    count = ROUNDS_DEFAULT if rounds is None else min(max(rounds, ROUNDS_MIN), ROUNDS_MAX)
    salt_bytes = salt.encode()
    digest = _initial_digest(key, salt_bytes)
    p_seq = _stretch(_sha512(key * len(key)), len(key))
    s_seq = _stretch(_sha512(salt_bytes * (16 + digest[0])), len(salt_bytes))
    final = _rounds(digest, p_seq, s_seq, count)
    rounds_field = "" if rounds is None else f"{ROUNDS_PREFIX}{count}$"
    return f"{PREFIX}{rounds_field}{salt}${_encode(final)}"


def new_hash(password: str | bytes) -> str:
    """A fresh ``$6$`` hash with a random 16-character salt, for writing into ``/etc/shadow``."""
    salt = "".join(secrets.choice(ALPHABET) for _ in range(SALT_MAX))
    return sha512_crypt(password, salt)


def _parse(hashed: str) -> tuple[int | None, str] | None:
    """Rounds (None when absent) and salt of a ``$6$`` hash, or None when it is not one."""
    if not hashed.startswith(PREFIX):
        return None
    fields = hashed[len(PREFIX) :].split("$")
    rounds = None
    if len(fields) == 3 and fields[0].startswith(ROUNDS_PREFIX):
        digits = fields.pop(0)[len(ROUNDS_PREFIX) :]
        if not (digits.isascii() and digits.isdigit()):
            return None
        rounds = int(digits)
    if len(fields) != 2:
        return None
    return rounds, fields[0]


def verify(password: str | bytes, hashed: str) -> bool:
    """Whether ``password`` matches ``hashed``; False for locked (``!``, ``*``) or foreign hashes.

    The lab's built-in sudo calls this with whatever a shadow file holds, so anything that is not
    a well-formed ``$6$`` hash is simply a mismatch, never an error. The comparison takes the same
    time wherever the strings differ.
    """
    if not isinstance(hashed, str):
        return False
    parsed = _parse(hashed)
    if parsed is None:
        return False
    rounds, salt = parsed
    try:
        expected = sha512_crypt(password, salt, rounds)
        return hmac.compare_digest(expected.encode(), hashed.encode())
    except (TypeError, ValueError):  # not str/bytes, or text that cannot be UTF-8 encoded
        return False
