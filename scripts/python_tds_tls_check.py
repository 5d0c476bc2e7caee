#!/usr/bin/env python3
"""The stand-in's TLS seen by a SQL Server client nobody here wrote:
python-tds, which does TLS with pyOpenSSL.

Usage: python_tds_tls_check.py HOST PORT DATABASE USER PASSWORD CA_FILE OTHER_CA_FILE

Connects with the certificate validated against CA_FILE (host name checked
too), encrypted throughout (python-tds sends ENCRYPT_ON), writes and reads
rows with bound parameters; then with only the login encrypted
(enc_login_only: ENCRYPT_OFF); then checks that validating against
OTHER_CA_FILE, a CA that did not sign the server's certificate, fails.
Exits non-zero with a message naming the first failure.
"""
import sys

import pytds


def fail(msg):
    print(f"python-tds TLS check FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def connect(host, port, database, user, password, cafile, login_only):
    return pytds.connect(
        server=host,
        port=int(port),
        database=database,
        user=user,
        password=password,
        autocommit=True,
        login_timeout=10,
        timeout=30,
        cafile=cafile,
        validate_host=True,
        enc_login_only=login_only,
    )


def main():
    if len(sys.argv) != 8:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, database, user, password, ca, other_ca = sys.argv[1:]

    conn = connect(host, port, database, user, password, ca, False)
    cur = conn.cursor()
    cur.execute("CREATE TABLE dbo.PyTls (id INT NOT NULL PRIMARY KEY, v NVARCHAR(100) NULL)")
    # Larger than one TLS record and one TDS packet.
    big = "chiffré ✓ " * 2000
    cur.execute("INSERT INTO dbo.PyTls VALUES (%s, %s), (%s, %s)", (1, "secret", 2, big[:100]))
    cur.execute("SELECT id, v FROM dbo.PyTls ORDER BY id")
    got = [tuple(r) for r in cur.fetchall()]
    if got != [(1, "secret"), (2, big[:100])]:
        fail(f"encrypted connection read {got!r}")
    cur.execute("SELECT %s", (big,))
    if cur.fetchone()[0] != big:
        fail("a 20,000-character value did not round-trip over TLS")
    conn.close()

    conn = connect(host, port, database, user, password, ca, True)
    cur = conn.cursor()
    cur.execute("SELECT COUNT(*) FROM dbo.PyTls")
    n = cur.fetchone()[0]
    if n != 2:
        fail(f"login-only encryption: COUNT(*) read {n!r}, expected 2")
    conn.close()

    try:
        conn = connect(host, port, database, user, password, other_ca, False)
    except Exception as e:  # python-tds raises OpenSSL.SSL.Error here
        text = str(e) or type(e).__name__
        print(f"a certificate from another CA is refused: {text}")
    else:
        conn.close()
        fail("a certificate signed by another CA was accepted")

    print("python-tds TLS check passed: encrypted throughout, login-only, wrong CA refused")


if __name__ == "__main__":
    main()
