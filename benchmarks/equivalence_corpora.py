"""Corpora for benchmarks/batch_equivalence.py: lists of log lines, built deterministically from a seed.

- loghub: the ``Content`` column of the Loghub-2.0 samples (``<system>/<system>_2k.log_structured_corrected.csv``),
  read in place; None when the data is not there.
- generated: log-like lines with everything redaction and fingerprinting react to: logger prefixes, numbers,
  ids, addresses, paths, quoted values, units, unicode, control characters, Python/Java/Node stack traces,
  secrets of every built-in kind, text for the extra patterns, exact repeats and lines at the memo size
  limits.
- mutated: the base lines (Loghub, or the generated lines without the data) with digits and letters
  swapped and secrets spliced in.
- adversarial: random ASCII, unicode look-alikes and control characters; the base lines with control
  characters spliced in; duplicates.
"""

from __future__ import annotations

import base64
import csv
import json
import random
import string
from pathlib import Path

UP = string.ascii_uppercase
LO = string.ascii_lowercase
DIG = string.digits
ALNUM = string.ascii_letters + DIG
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
HEXL = "0123456789abcdef"

# the extra patterns that canary() writes material for; batch_equivalence.py passes these to redact
EXTRA_PATTERNS = (r"canary-\d+", r"^start\w*")


def rs(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choices(alphabet, k=n))


# --------------------------------------------------------------------------------------------------
# Loghub
# --------------------------------------------------------------------------------------------------
def loghub_lines(data: Path) -> list[str] | None:
    """The Content column of every system's structured CSV under ``data``, systems in name order; None if
    there is none."""
    files = sorted(data.glob("*/*_2k.log_structured_corrected.csv")) if data.is_dir() else []
    if not files:
        return None
    out: list[str] = []
    for path in files:
        with path.open(newline="", encoding="utf-8") as fh:
            out += [row["Content"] for row in csv.DictReader(fh)]
    return out


# --------------------------------------------------------------------------------------------------
# Secrets of every kind redact() knows, with near misses
# --------------------------------------------------------------------------------------------------
def luhn_complete(body: str) -> str:
    """Append the Luhn check digit to body."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # these get doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def card(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.25:  # Amex 15, 4-6-5 grouping
        num = luhn_complete(rng.choice(["34", "37"]) + rs(rng, DIG, 12))
        sep = rng.choice(["", "", " ", "-"])
        return num if not sep else sep.join((num[:4], num[4:10], num[10:]))
    length = rng.choice([13, 14, 15, 16, 16, 16, 16, 17, 18, 19])
    num = luhn_complete(rng.choice("23456") + rs(rng, DIG, length - 2))
    if rng.random() < 0.1:  # Luhn-invalid twin
        num = num[:-1] + str((int(num[-1]) + rng.randint(1, 9)) % 10)
    sep = rng.choice(["", "", " ", "-"])
    if sep and length >= 13:
        groups = [num[i:i + 4] for i in range(0, len(num), 4)]
        return sep.join(groups)
    return num


def jwt(rng: random.Random) -> str:
    def b64u(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    head = b64u({"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"})
    body = b64u({"sub": rs(rng, DIG, 6), "name": rs(rng, LO, 5), "iat": rng.randint(10**9, 2 * 10**9)})
    return f"{head}.{body}.{rs(rng, URLSAFE, rng.choice([0, 16, 43, 86]))}"


def pem(rng: random.Random) -> str:
    kind = rng.choice(["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", "DSA ", "PGP "])
    block = " BLOCK" if kind == "PGP " and rng.random() < 0.5 else ""
    nl = "\r\n" if rng.random() < 0.2 else "\n"
    body = nl.join(rs(rng, B64, 64) for _ in range(rng.randint(1, 5))) + nl + rs(rng, B64, rng.randint(4, 60)) + "=="
    head = f"-----BEGIN {kind}PRIVATE KEY{block}-----"
    if rng.random() < 0.15:
        return head + nl + body  # unterminated
    if rng.random() < 0.1:
        body += nl + "-----not-the-end-----"
    return head + nl + body + nl + f"-----END {kind}PRIVATE KEY{block}-----"


def secret(rng: random.Random) -> str:
    k = rng.randrange(16)
    if k == 0:
        pre = rng.choice(["AKIA", "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "ABIA", "ACCA",
                          "A3T" + rng.choice(UP + DIG)])
        return pre + rs(rng, UP + DIG, rng.choice([16, 16, 16, 15, 17]))
    if k == 1:
        s = rs(rng, B64, rng.choice([40, 40, 40, 39, 41, 56, 64, 65]))
        return s + "=" * rng.choice([0, 0, 1, 2])
    if k == 2:
        t = rng.choice(["xoxb", "xoxp", "xoxa", "xoxo", "xoxs", "xoxr", "xoxe"])
        return f"{t}-{rs(rng, DIG, 11)}-{rs(rng, DIG, 12)}-{rs(rng, ALNUM, 24)}"
    if k == 3:
        return rng.choice([f"xapp-1-{rs(rng, UP + DIG, 11)}-{rs(rng, DIG, 13)}-{rs(rng, HEXL, 64)}",
                           f"https://hooks.slack.com/services/T{rs(rng, UP + DIG, 8)}/B{rs(rng, UP + DIG, 8)}/{rs(rng, ALNUM, 24)}"])
    if k == 4:
        return rng.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + rs(rng, ALNUM, rng.choice([36, 36, 30, 29]))
    if k == 5:
        return "github_pat_" + rs(rng, ALNUM, 22) + "_" + rs(rng, ALNUM, 59)
    if k == 6:
        return rng.choice(["sk_live_", "sk_test_", "rk_live_", "rk_test_"]) + rs(rng, ALNUM, rng.choice([24, 99, 9]))
    if k == 7:
        return "whsec_" + rs(rng, ALNUM, 32)
    if k == 8:
        return "eyJ" + jwt(rng)[3:]
    if k == 9:
        tok = rng.choice([rs(rng, URLSAFE + ".~+/", 32), jwt(rng), rs(rng, B64, 20) + "=="])
        return rng.choice([f"Authorization: Bearer {tok}", f"authorization=Basic {tok}", f'"Authorization": "Token {tok}"',
                           f"Bearer {tok}", f"basic {tok}", f"AUTHORIZATION:   {tok}", f"Authorization:{tok}",
                           f"authorization: AWS4-HMAC-SHA256 Credential={tok}", f"'authorization'= '{tok}'"])
    if k == 10:
        key = rng.choice(["password", "passwd", "pwd", "passphrase", "client_secret", "client-secret", "secret",
                          "secret_access_key", "access_token", "refresh-token", "api_key", "apikey", "API-KEY",
                          "private_key", "credentials", "token", "Token", "PASSWORD", "db_password", "auth_token"])
        sep = rng.choice(["=", "=", ": ", " = ", ":", "\":\"", "='", "=\"", "  =  "])
        val = rng.choice([rs(rng, ALNUM + "!#$%^*", rng.randint(1, 20)), "hunter2", "", rs(rng, ALNUM, 40)])
        close = {"\":\"": "\"", "='": "'", "=\"": "\""}.get(sep, "")
        return key + sep + val + close
    if k == 11:
        scheme = rng.choice(["https", "http", "postgres", "mysql", "redis", "amqp", "ftp", "mongodb+srv"])
        host = rng.choice(["db.internal", "example.com", "10.0.0.5", "localhost", "host-1.corp"])
        port = rng.choice(["", ":5432", ":8080"])
        return f"{scheme}://{rs(rng, LO, 5)}:{rs(rng, ALNUM + '%!$', rng.randint(1, 16))}@{host}{port}/{rs(rng, LO, 4)}"
    if k == 12:
        return pem(rng)
    return card(rng)


PUNCT_WRAPS = [("(", ")"), ("[", "]"), ('"', '"'), ("'", "'"), ("<", ">"), ("", ","), ("", ";"), ("=", ""),
               (":", ""), ("", "."), ("/", "/"), ("{", "}"), ("", ":"), ("-", "-"), ("_", "_"), ("", "")]


def insert(rng: random.Random, line: str, s: str) -> str:
    if rng.random() < 0.4:
        a, b = rng.choice(PUNCT_WRAPS)
        s = a + s + b
    where = rng.random()
    if where < 0.2 or not line:
        return s + rng.choice([" ", "", "\t", ": "]) + line
    if where < 0.4:
        return line + rng.choice([" ", "", "\t", " - "]) + s
    if where < 0.8:
        spaces = [i for i, c in enumerate(line) if c == " "]
        if spaces:
            i = rng.choice(spaces)
            return line[:i + 1] + s + " " + line[i + 1:]
    i = rng.randrange(len(line) + 1)
    return line[:i] + s + line[i:]


def canary(rng: random.Random, line: str) -> str:
    """Material for the extra patterns r"canary-\\d+" and r"^start\\w*"."""
    r = rng.random()
    if r < 0.4:
        return insert(rng, line, "canary-" + rs(rng, DIG, rng.randint(1, 8)))
    if r < 0.6:
        return "start" + rng.choice(["", "ing", "ed_" + rs(rng, ALNUM, 4), " "]) + line
    if r < 0.7:
        return "canary-" + " canary-".join(rs(rng, DIG, 3) for _ in range(3)) + " " + line
    if r < 0.8:
        return "Start " + line + " canary-x canary-"  # near misses
    return "start" + insert(rng, line, "canary-9")


# --------------------------------------------------------------------------------------------------
# Mutated lines
# --------------------------------------------------------------------------------------------------
_SWAP = {}
for group in (DIG, "abcdef", "ghijklmnopqrstuvwxyz", "ABCDEF", "GHIJKLMNOPQRSTUVWXYZ"):
    for ch in group:
        _SWAP[ch] = group


def mutate(rng: random.Random, line: str, p: float = 0.5) -> str:
    """Swap digits for digits and letters for letters of the same case and hex-ness."""
    return "".join(rng.choice(_SWAP[c]) if c in _SWAP and rng.random() < p else c for c in line)


def mutated_lines(base: list[str], rng: random.Random, copies: int = 2) -> list[str]:
    out = []
    for _ in range(copies):
        for line in base:
            r = rng.random()
            if r < 0.15:
                m = line  # secrets on the untouched line
            else:
                m = mutate(rng, line, p=rng.choice([0.1, 0.5, 1.0]))
            if rng.random() < 0.55:
                for _ in range(rng.choice([1, 1, 1, 2, 3])):
                    m = insert(rng, m, secret(rng))
            if rng.random() < 0.1:
                m = canary(rng, m)
            out.append(m)
    return out


# --------------------------------------------------------------------------------------------------
# Generated lines
# --------------------------------------------------------------------------------------------------
WORDS = ("Connection failed to for user from port took error timeout request received packet node sending "
         "completed in of at block terminating Starting Stopping session opened closed by Accepted Invalid "
         "Failed password publickey authentication failure login retry Retrying GET POST status job task "
         "worker executor the a an unknown illegal invalid state changed is was PacketResponder Receiving "
         "Verification succeeded Deleting file size bytes on with as username account principal User USER "
         "Error: Exception Warning: WARN: May Mar Sun Sat Jun mon error ERROR info INFO Fault Failure "
         "Throwable ok done -> => | - : , ; ! ? *").split()
UNITS = "B KB MB GB TB PB KiB MiB GiB TiB kB ms us µs ns s ms, s. ms) KB; ms,) KB). s.,".split()
NON_ASCII = ["Über", "naïve", "日本語", "Ошибка", "İstanbul", "ſ", "K", "٣٤", "²", "µs", "😀", "café", "ß", "ﬁle",
             "Σίσυφος", "ﻻ", "\u00a0", "\u200b", "x\u0301", "١٢٣٫٤", "Ⅻ", "①", "𝟘𝟙"]
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
DAYS = "Mon Tue Wed Thu Fri Sat Sun".split()
LEVELS = ("TRACE DEBUG INFO NOTICE WARN WARNING ERROR ERR FATAL CRITICAL CRIT SEVERE ALERT EMERG PANIC "
          "error info warn Info").split()


def uuid(rng: random.Random, upper: bool = False) -> str:
    h = rs(rng, HEXL, 32)
    u = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return u.upper() if upper else u


def ipv4(rng: random.Random) -> str:
    return ".".join(str(rng.randint(0, 255)) for _ in range(4))


def prefix(rng: random.Random) -> str:
    k = rng.randrange(12)
    d = f"{rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    t = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    if k == 0:
        return d + rng.choice([" ", "T"]) + t + rng.choice(["", ",123", ".123456", ".1"]) + rng.choice(
            ["", "Z", " UTC", "+02:00", "-0500", " +0000"]) + rng.choice(["", ":", ","])
    if k == 1:
        return "[" + d + " " + t + "]"
    if k == 2:
        return d.replace("-", rng.choice(["/", "."]))
    if k == 3:
        return t + rng.choice(["", ".123", ",5"])
    if k == 4:
        return rng.choice(DAYS) + rng.choice(["", ","])
    if k == 5:
        return rng.choice(MONTHS) + " " * rng.randint(1, 2) + str(rng.randint(1, 31)) + rng.choice(["", ", 2024", " 2005"])
    if k in (6, 7):
        lv = rng.choice(LEVELS)
        return rng.choice([lv, f"[{lv}]", f"{lv}:", f"[{lv}]:"])
    if k == 8:
        return rng.choice(["", "RequestId: ", "RequestId:", "["]) + uuid(rng, rng.random() < 0.2) + rng.choice(["", "]", ":"])
    if k == 9:
        return uuid(rng)
    if k == 10:
        return rng.choice(["\t", "  ", " "])
    return rng.choice(["Jan", "Monday", "INFOx", "ERROR-", "2024-13-45", "12:00", "[ERROR]", "deadbeef-1234"])


def fragment(rng: random.Random) -> str:
    k = rng.randrange(30)
    if k < 6:
        return rng.choice(WORDS)
    if k == 6:
        return rng.choice([str(rng.randint(0, 10**rng.randint(1, 12))), f"-{rng.randint(0, 999)}",
                           f"{rng.random() * 1000:.{rng.randint(0, 4)}f}", "1,234", "1e-5", f"0x{rs(rng, HEXL, 4)}",
                           str(rng.randint(0, 9))])
    if k == 7:
        return rng.choice([f"blk_{rng.choice(['', '-'])}{rs(rng, DIG, 19)}", f"node-{rng.randint(0, 999)}",
                           f"core.{rng.randint(0, 9999)}", f"job_{rs(rng, DIG, 12)}_{rs(rng, DIG, 4)}",
                           f"R{rs(rng, DIG, 2)}-M{rng.randint(0, 1)}-N{rng.randint(0, 9)}-C:J{rs(rng, DIG, 2)}-U{rs(rng, DIG, 2)}",
                           f"req#{rng.randint(0, 999)}", f"${rng.randint(0, 99)}", f"{rng.randint(0, 100)}%",
                           f"attempt_{rs(rng, DIG, 13)}_{rs(rng, DIG, 4)}_m_{rs(rng, DIG, 6)}_0", "eth0", "ssh2",
                           "md5", "tty1", "x86_64", "v1.2.3", "HTTP/1.1"])
    if k == 8:
        return rng.choice([rs(rng, HEXL, rng.randint(8, 40)), "0x" + rs(rng, "0123456789abcdefABCDEF", 8),
                           rs(rng, "0123456789ABCDEF", 12), "deadbeef", rs(rng, ALNUM + "_-", rng.randint(30, 34)),
                           rs(rng, HEXL, 40)])
    if k == 9:
        return uuid(rng, rng.random() < 0.3)
    if k == 10:
        return rng.choice([ipv4(rng), f"{ipv4(rng)}:{rng.randint(1, 65535)}", "/" + ipv4(rng) + ":50010",
                           "fe80::1", "2001:db8::ff00:42:8329", "::1", "00:1a:2b:3c:4d:5e", f"[{ipv4(rng)}]",
                           "0:0:0:0:0:0:0:2181", "::ffff:10.0.0.1"])
    if k == 11:
        return rng.choice(["api.example.com", "ns.marryaldkfaczcz.com", "db-1.internal", "localhost",
                           f"ip-10-0-0-{rng.randint(1, 254)}.ec2.internal", "www.bbc.co.uk", "foo.bar.io.",
                           "EXAMPLE.COM", "svc.cluster.local", "a.b", "host.name", "x.dev"])
    if k == 12:
        return rng.choice(["/var/log/app.log", "C:\\Users\\x\\file.txt", "~/x", "./a/b", "../c", "/",
                           f"/etc/httpd/conf/workers{rng.randint(1, 3)}.properties", "/srv/a:b", "a/b/c",
                           "/Users/SomeBody/Library/Support1", "//double"])
    if k == 13:
        return rng.choice(["https://example.com/a?b=1&c=2", "s3://bucket/key/x.gz", f"http://{ipv4(rng)}:8080/x",
                           "file:///var/runtime/index.mjs", "ftp://x", "https://h.com/p(1)", "HTTP://X.ORG"])
    if k == 14:
        return rng.choice(["bob@example.com", "a.b+c@mail.co.uk", "x@y", "root@localhost.localdomain"])
    if k == 15:
        return rng.choice(['"some value with spaces"', "'x y'", "it's", '"', "'", '""', "''", '"a\'b"',
                           '"unterminated', f'"{rng.randint(0, 99)}"', "don't 'quote' me"])
    if k == 16:
        return rng.choice(["uid=0", "tty=NODEVssh", "ruser=", "k=v,", "a=<*>", "(HWID=123)", "x==y", "=v",
                           f"id={uuid(rng)}", f"count={rng.randint(0, 99)}&n=2", "]=1", "a=b=c"])
    if k == 17:
        return f"{rng.choice([str(rng.randint(0, 999)), f'{rng.random() * 10:.1f}'])} {rng.choice(UNITS)}"
    if k == 18:
        return rng.choice([f"user {rs(rng, LO, 5)}", f"for user {rs(rng, LO, 4)}",
                           f"Failed password for {rng.choice(['root', 'invalid user admin', rs(rng, LO, 5)])} from {ipv4(rng)} port {rng.randint(1, 65535)} ssh2",
                           f"Invalid user {rs(rng, LO, 6)} from {ipv4(rng)}", f"username {rs(rng, LO, 3)}",
                           "user", "user the", "account -x", f"User {rng.randint(0, 9)}", "authentication failure for bob"])
    if k == 19:
        return rng.choice(["depth.........0", "a.....1", "1..2", "x..", "....", "..", "a..b..c", "ab.....12.3",
                           f"{rs(rng, LO, 4)}{'.' * rng.randint(2, 9)}{rng.randint(0, 99)}"])
    if k == 20:
        return rng.choice(["<*>", "a<*>b", "<*><*>", "<*>:<*>", "<*>, <*>", "<*> - <*>", "<*", "*>", "<*>.."])
    if k == 21:
        return rng.choice(NON_ASCII)
    if k == 22:
        return rng.choice([f"{rng.choice(DAYS)} {rng.choice(MONTHS)} {rng.randint(1, 28)} 02:08:10 2005",
                           f"on {rng.choice(DAYS)}", rng.choice(MONTHS), f"{rng.choice(MONTHS)} {rng.randint(1, 31)}"])
    if k == 23:
        return rng.choice(["()", "[]", "{}", "[1]", "(5)", "20,", "(x)", "[TERM, HUP, INT]"])
    if k == 24:
        return rng.choice(["java.lang.NullPointerException", "ValueError:", "botocore.exceptions.ClientError",
                           "SomethingFailure", "MyError", "com.foo.BarException:", "OutOfMemoryError"])
    if k == 25:
        return rng.choice(["\x00", "\r", "a\x00b", "\x0b", "\x0c", "\x1f"])
    if k == 26:
        return rng.choice(["workerEnv.init()", "mod_jk", "dfs.DataNode$PacketResponder", "QuorumPeer[myid=1]/0",
                           "sshd(pam_unix)[123]:", "kernel:", "a,b,c", "x;y"])
    if k == 27:
        return rs(rng, ALNUM, rng.randint(1, 12))
    return rng.choice(WORDS) + rng.choice(["", ":", ",", "."])


SEPS = [" "] * 12 + ["  ", "\t", " \t ", "   "]


def one_line(rng: random.Random) -> str:
    parts = [prefix(rng) for _ in range(rng.choice([0, 0, 1, 1, 1, 2, 2, 3, 4]))]
    parts += [fragment(rng) for _ in range(rng.randint(1, 10))]
    out = parts[0] if parts else ""
    for p in parts[1:]:
        out += rng.choice(SEPS) + p
    if rng.random() < 0.05:
        out = rng.choice([" ", "\t", "  "]) + out
    if rng.random() < 0.05:
        out += rng.choice([" ", "\t", "\r", "\r\n", "\n"])
    return out


def python_trace(rng: random.Random) -> str:
    nl = "\r\n" if rng.random() < 0.2 else "\n"
    lines = []
    if rng.random() < 0.3:
        lines.append(f"[ERROR] {rng.choice(['KeyError', 'ValueError', 'botocore.exceptions.ClientError'])}: "
                     f"{one_line(rng)}")
    elif rng.random() < 0.3:
        lines.append(one_line(rng))
    lines.append("Traceback (most recent call last):")
    for _ in range(rng.randint(0, 6)):
        path = rng.choice(["/var/task/app/handler.py", "/var/runtime/bootstrap.py",
                           "/opt/python/lib/python3.11/site-packages/botocore/client.py", "<frozen importlib._bootstrap>",
                           "C:\\src\\app\\x.py", f"/app/{rs(rng, LO, 5)}.py", "/usr/lib/python3.11/json/decoder.py"])
        lines.append(f'  File "{path}", line {rng.randint(1, 999)}, in {rng.choice(["handle", "<module>", "main", "_call", rs(rng, LO, 6)])}')
        if rng.random() < 0.7:
            lines.append("    " + one_line(rng))
    exc = rng.choice(["ValueError", "KeyError", "botocore.exceptions.ClientError", "SystemExit", "KeyboardInterrupt",
                      "DeprecationWarning", "MyCustomThing", "lowercase", "OSError"])
    if rng.random() < 0.9:
        lines.append(exc + rng.choice(["", ": ", f": {one_line(rng)}", f": invalid literal for int() with base 10: '{rs(rng, ALNUM, 3)}'"]))
    if rng.random() < 0.2:
        lines.append("")
    return nl.join(lines)


def java_trace(rng: random.Random) -> str:
    nl = "\r\n" if rng.random() < 0.2 else "\n"
    lines = []
    if rng.random() < 0.5:
        lines.append(f"{prefix(rng)} ERROR [main] c.e.App - {one_line(rng)}")
    lines.append(rng.choice(["", "Exception in thread \"main\" ", "[ERROR] "])
                 + rng.choice(["java.lang.IllegalStateException", "com.example.MyException", "java.io.IOException",
                               "org.apache.kafka.common.KafkaException", "x.Y"])
                 + rng.choice(["", ": ", f": {one_line(rng)}"]))
    for _ in range(rng.randint(1, 8)):
        if rng.random() < 0.1:
            lines.append(f"Caused by: java.io.IOException: {one_line(rng)}")
            continue
        cls = rng.choice(["com.example.Service", "java.base/java.lang.Thread", f"com.example.App$$Lambda${rng.randint(1, 99)}/0x{rs(rng, HEXL, 8)}",
                          "org.springframework.web.Servlet", "com.example.Outer$Inner$1", "lambdainternal.Handler", "io.netty.X"])
        meth = rng.choice(["run", "apply", "<init>", "lambda$handle$0", "doFilter", "access$100"])
        loc = rng.choice([f"Service.java:{rng.randint(1, 999)}", "Unknown Source", "Native Method", ""])
        lines.append(rng.choice(["\t", "    ", " "]) + f"at {cls}.{meth}({loc})")
    if rng.random() < 0.3:
        lines.append("\t... 12 more")
    return nl.join(lines)


def node_trace(rng: random.Random) -> str:
    nl = "\r\n" if rng.random() < 0.1 else "\n"
    head = rng.choice(["", "Uncaught ", prefix(rng) + " ", "[ERROR] "]) + rng.choice(
        ["TypeError", "Error", "RangeError", "MyAppError", "SyntaxException", "typeError"]) + rng.choice(
        ["", " [ERR_X]", ""]) + rng.choice(["", ": ", f": Cannot read properties of undefined (reading '{rs(rng, LO, 3)}')",
                                            f": {one_line(rng)}"])
    lines = [head]
    for _ in range(rng.randint(0, 7)):
        lines.append("    " + rng.choice([
            f"at Object.handler (/var/task/index.js:{rng.randint(1, 99)}:{rng.randint(1, 99)})",
            f"at async Runtime.handleOnce (file:///var/runtime/index.mjs:{rng.randint(1, 999)}:{rng.randint(1, 99)})",
            f"at node:internal/process/task_queues:{rng.randint(1, 99)}:5",
            "at /app/node_modules/express/lib/router/index.js:284:7",
            "at new Promise (<anonymous>)", f"at {rs(rng, LO, 5)} (C:\\app\\src\\x.js:1:2)", "at Array.map (native)"]))
    return nl.join(lines)


def long_line(rng: random.Random, target: int) -> str:
    parts = []
    n = 0
    while n < target:
        p = rng.choice([one_line(rng), secret(rng), fragment(rng), "a" * rng.randint(10, 3000), "1" * 50,
                        rs(rng, B64, 200), "x" * 41, "<*> " * 20])
        parts.append(p)
        n += len(p) + 1
    return " ".join(parts)


def generated_lines(n: int, rng: random.Random) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        r = rng.random()
        if r < 0.10 and out:
            line = rng.choice(out)  # exact repeat (memo hits)
        elif r < 0.17 and out:
            line = mutate(rng, rng.choice(out), 0.5)  # same template, other values
        elif r < 0.20:
            line = python_trace(rng)
        elif r < 0.23:
            line = java_trace(rng)
        elif r < 0.25:
            line = node_trace(rng)
        elif r < 0.252:
            line = rng.choice(["", " ", "\t", "\n", "\r\n", "  \t  ", "\x00", "\r", " \n ", "\n\n", "\x0b"])
        elif r < 0.2528:
            line = long_line(rng, rng.choice([900, 1100, 2000, 5000]))
        else:
            line = one_line(rng)
        if rng.random() < 0.08:
            line = insert(rng, line, secret(rng))
        if rng.random() < 0.04:
            line = canary(rng, line)
        out.append(line)
    # a few lines right at the memo key-size limits (1024 chars) and the 64 KiB truncation of fingerprint
    for size in (1023, 1024, 1025, 65535, 65536, 65537, 65540):
        base = long_line(rng, size)
        out.append((base + " " * size)[:size])
    return out


# --------------------------------------------------------------------------------------------------
# Adversarial lines
# --------------------------------------------------------------------------------------------------
UNI = ["İ", "ı", "ſ", "K", "Å", "٣", "٤١", "²", "µs", "µ", "ß", "ﬁ", "\u00a0", "\u2028", "\u2029", "\u200b",
       "é", "Σ", "ς", "\ufeff", "\u0085", "\u3000", "Ⅻ", "①", "𝟘", "😀", "\ud800", "\udcff", "\x85", "ǅ", "ẞ", "Ω"]
NASTY = " \t\n\r\x00:.=-_/@<*>\"'()[]{}0123456789aAfFgGzZ,;#$%+\\|!?`~&^"


def adversarial_lines(rng: random.Random, base: list[str]) -> list[str]:
    out: list[str] = ["", " ", "\t", "\n", "\r", "\r\n", "\x00", "\x00" * 5, " " * 100, "\t\t\t", "\n\n\n", "\x0b\x0c",
                      "<*>", "<*>" * 2000, "." * 5000, "a" * 5000, "1" * 5000, "-" * 5000, "A" * 70000, "=" * 3000,
                      "-----BEGIN PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----" + "-" * 4000, "eyJ" * 2000,
                      "Bearer " * 500, "password=" * 500, "://:@" * 1000, "4" * 19, "4111 1111 1111 1111",
                      "٤١١١١١١١١١١١١١١١", "4111-1111-1111-1111-1111", "AKIA" + "K" * 16, "ſk_live_" + "a" * 24,
                      "İpassword=x", "PASSWORD=x", "Traceback (most recent call last):", "Traceback (most recent call last):\n",
                      "\nTraceback (most recent call last):\nValueError", "    at x\n    at y\n    at z", "Error\n    at x"]
    for _ in range(6000):  # random printable ASCII, with unicode sprinkled in
        s = rs(rng, string.printable, rng.randint(0, 120))
        for _ in range(rng.choice([0, 0, 1, 2, 5])):
            i = rng.randrange(len(s) + 1)
            s = s[:i] + rng.choice(UNI) + s[i:]
        out.append(s)
    for _ in range(5000):  # small alphabet of characters every rule reacts to
        s = "".join(rng.choice(NASTY) if rng.random() < 0.9 else rng.choice(UNI) for _ in range(rng.randint(0, 60)))
        out.append(s)
    for _ in range(3000):  # fragments and secrets glued together without spaces, with unicode lookalikes
        parts = [rng.choice([fragment(rng), secret(rng), rng.choice(UNI), prefix(rng), rng.choice(NASTY)])
                 for _ in range(rng.randint(1, 8))]
        s = "".join(parts) if rng.random() < 0.5 else rng.choice(["", " ", "\t", "\n", "\x00"]).join(parts)
        if rng.random() < 0.3:
            s = s.replace("1", "١").replace("K", "K") if rng.random() < 0.5 else s.replace("s", "ſ").replace("I", "İ")
        out.append(s)
    for _ in range(2000):  # base lines with control characters and unicode digits spliced in
        s = rng.choice(base)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(s) + 1)
            s = s[:i] + rng.choice(["\n", "\x00", "\r", "\t", "\r\n", "٣", "²", "µs", "İ", "ſ", "K", " ", "  "]) + s[i:]
        out.append(s)
    for _ in range(1500):  # the neighbour rules without an authentication word: "for", units with tails, dates
        words = ["request", "for", "job", "took", "user", "bob", "5", "12", "7.5", "ms,)", "KB).", "s.,", "ms", "KB,",
                 "Jun", "Sat", "done", "<*>", "(3", "x=1"]
        out.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))))
    for _ in range(1500):  # ASCII lines with NUL characters and secrets: batches that take the batch scans
        parts = [rng.choice([fragment(rng), secret(rng), "\x00", rng.choice(WORDS)]) for _ in range(rng.randint(1, 8))]
        s = rng.choice(["", " ", "\x00"]).join(parts)
        out.append(s if s.isascii() else s.encode("ascii", "ignore").decode())
    for _ in range(1500):  # one skeleton, other digits: names that keep their digit beside values that do not
        d = [str(rng.randrange(10)) for _ in range(6)]
        out.append(rng.choice([f"eth{d[0]} link down after {d[1]}{d[2]} ms on 10.0.{d[3]}.1 ssh{d[4]}",
                               f"PacketResponder {d[0]} for block blk_-{d[1]}{d[2]}{d[3]} terminating",
                               f"x86_64 cpu{d[0]} v{d[1]}.{d[2]} core.{d[3]}{d[4]} md{d[5]}",
                               f"job_{d[0]}{d[1]} task tty{d[2]} exited {d[3]} Jun {d[4]}{d[5]}"]))
    out += out[:500]  # duplicates
    return out


def build_all(seed: int, n_generated: int, loghub: list[str] | None) -> dict[str, list[str]]:
    """Every corpus by name. ``loghub`` is the output of loghub_lines(); without it there is no loghub
    corpus, and the mutated and adversarial corpora start from the generated lines instead (the first
    16,000 at most, as many as the eight Loghub samples hold)."""
    generated = generated_lines(n_generated, random.Random(seed))
    base = loghub if loghub is not None else generated[:16_000]
    corpora = {"loghub": loghub} if loghub is not None else {}
    corpora["generated"] = generated
    corpora["mutated"] = mutated_lines(base, random.Random(seed + 1), copies=1)
    corpora["adversarial"] = adversarial_lines(random.Random(seed + 2), base)
    return corpora
