"""SHA-512 crypt against the specification's vectors, openssl, and the C library's crypt().

The vectors are the SHA-512 test cases of Ulrich Drepper's "Unix crypt using SHA-256 and
SHA-512" (https://www.akkadia.org/drepper/SHA-crypt.txt), the same table as glibc's
``crypt/sha512c-test.c`` (in glibc up to 2.38, when libcrypt left glibc).
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import warnings
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.lab import shacrypt
from fleet.lab.shacrypt import ALPHABET, new_hash, sha512_crypt, verify

# (password, salt, rounds, expected); the salt and rounds are what the spec's vector passes
# after "$6$", split into this module's arguments.
SPEC_VECTORS = [
    (
        "Hello world!",
        "saltstring",
        None,
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJu"
        "esI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
    ),
    (
        "Hello world!",
        "saltstringsaltstring",
        10000,
        "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sb"
        "HbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
    ),
    (
        "This is just a test",
        "toolongsaltstring",
        5000,
        "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQ"
        "zQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
    ),
    (
        "a very much longer text to encrypt.  This one even stretches over morethan one line.",
        "anotherlongsaltstring",
        1400,
        "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wP"
        "vMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
    ),
    (
        "we have a short salt string but not a short password",
        "short",
        77777,
        "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0g"
        "ge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0",
    ),
    (
        "a short string",
        "asaltof16chars..",
        123456,
        "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwc"
        "elCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1",
    ),
    (
        "the minimum number is still observed",
        "roundstoolow",
        10,
        "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1x"
        "hLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.",
    ),
]

HASH_SHAPE = re.compile(r"\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}")
HELLO = SPEC_VECTORS[0][3]


@pytest.mark.parametrize(("password", "salt", "rounds", "expected"), SPEC_VECTORS)
def test_spec_vectors(password: str, salt: str, rounds: int | None, expected: str) -> None:
    assert sha512_crypt(password, salt, rounds) == expected


@pytest.mark.parametrize(("password", "salt", "rounds", "expected"), SPEC_VECTORS)
def test_spec_vectors_verify(password: str, salt: str, rounds: int | None, expected: str) -> None:
    assert verify(password, expected)
    assert not verify(password + "x", expected)


def test_bytes_password_hashes_like_its_utf8_text() -> None:
    assert sha512_crypt("pässwörd".encode(), "salt") == sha512_crypt("pässwörd", "salt")


def test_salt_ends_at_dollar() -> None:
    assert sha512_crypt("Hello world!", "saltstring$ignored") == HELLO


def test_rounds_clamped_to_maximum(monkeypatch: pytest.MonkeyPatch) -> None:
    # The loop is replaced: a billion real rounds would take hours.
    counts: list[int] = []

    def fake_rounds(digest: bytes, p_seq: bytes, s_seq: bytes, rounds: int) -> bytes:
        counts.append(rounds)
        return digest

    monkeypatch.setattr(shacrypt, "_rounds", fake_rounds)
    assert sha512_crypt("p", "s", 10**12).startswith("$6$rounds=999999999$s$")
    assert counts == [999_999_999]


def test_new_hash_shape_and_fresh_salt() -> None:
    first, second = new_hash("secret"), new_hash("secret")
    assert HASH_SHAPE.fullmatch(first), first
    assert HASH_SHAPE.fullmatch(second), second
    assert first != second


@pytest.mark.parametrize("password", ["secret", "", "pässwörd ünïcode", "x" * 300, b"raw\xffbytes"])
def test_round_trip(password: str | bytes) -> None:
    assert verify(password, new_hash(password))


def test_wrong_password() -> None:
    hashed = new_hash("secret")
    assert not verify("Secret", hashed)
    assert not verify("secret ", hashed)
    assert not verify("", hashed)


MALFORMED = [
    "",
    "*",
    "!",
    "!!",
    "!" + HELLO,  # a locked account keeps its old hash behind "!"
    HELLO + "\n",
    HELLO[:-1],
    HELLO + "$",
    "$6$",
    "$6$saltstring",
    "$6$rounds=$saltstring$" + HELLO.rsplit("$", 1)[1],
    "$6$rounds=abc$saltstring$" + HELLO.rsplit("$", 1)[1],
    "$6$rounds=-5000$saltstring$" + HELLO.rsplit("$", 1)[1],
    "$6$rounds=1000$roundstoolow$x$y",
    "$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1",
    "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
    "garbage",
    "$6$\udc80$abc",
]


@pytest.mark.parametrize("hashed", MALFORMED)
def test_malformed_hash_is_a_mismatch(hashed: str) -> None:
    assert verify("Hello world!", hashed) is False


def test_unclamped_rounds_field_is_a_mismatch() -> None:
    # glibc writes the clamped count, so a stored "rounds=10" is never its output.
    clamped = SPEC_VECTORS[-1][3]
    assert not verify(SPEC_VECTORS[-1][0], clamped.replace("rounds=1000$", "rounds=10$"))


@pytest.mark.parametrize("bad", [None, 42, "\udc80"])
def test_unusable_password_is_a_mismatch(bad: object) -> None:
    assert verify(bad, HELLO) is False  # type: ignore[arg-type]
    assert verify("Hello world!", bad) is False  # type: ignore[arg-type]


# --- against other implementations ------------------------------------------------------------


def _openssl_hash(password: str, salt: str) -> str:
    done = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
        input=password + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary to compare with")
@pytest.mark.parametrize("run", range(4))
def test_matches_openssl(run: int) -> None:
    password = secrets.token_urlsafe(8 + 7 * run)
    salt = "".join(secrets.choice(ALPHABET) for _ in range(4 + 4 * run))
    assert sha512_crypt(password, salt) == _openssl_hash(password, salt)


def _system_crypt() -> ModuleType | None:
    """The deprecated ``crypt`` module when this Python still has it and it knows ``$6$``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            return None
    return crypt if crypt.METHOD_SHA512 in crypt.methods else None


SYSTEM_CRYPT = _system_crypt()
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@pytest.mark.skipif(SYSTEM_CRYPT is None, reason="no crypt module with SHA-512 in this Python")
@settings(max_examples=40, deadline=None)
@given(
    password=TEXT,
    salt=st.text(ALPHABET, max_size=20),
    # libxcrypt refuses counts below 1000 ("*0") where the spec clamps; the spec vector covers it.
    rounds=st.one_of(st.none(), st.integers(min_value=1000, max_value=1500)),
)
def test_matches_system_crypt(password: str, salt: str, rounds: int | None) -> None:
    assert SYSTEM_CRYPT is not None
    setting = "$6$" + ("" if rounds is None else f"rounds={rounds}$") + salt
    expected = SYSTEM_CRYPT.crypt(password, setting)
    assert sha512_crypt(password, salt, rounds) == expected
    assert verify(password, expected)
