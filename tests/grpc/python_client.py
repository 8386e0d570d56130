#!/usr/bin/env python3
"""A client nobody here wrote: Python's grpcio (Debian: python3-grpcio) calls the
C++ Probe server (tests/grpc/probe_server) and reads what a client in any
language gets from a strata server: the status code, the message a user may see
("[ID] message"), and the details as docs/across-machines.md documents them
(grpc-status-details-bin: a google.rpc.Status holding a google.rpc.ErrorInfo and
a strata.v1.Error whose json is docs/json-schema.md's).

No generated Python code: the request is two protobuf fields, written by hand,
and the details are read with a small reader of the wire format below, so that
the check depends on nothing but grpcio.

    python_client.py PATH/TO/grpc_probe_server
"""
import json
import re
import subprocess
import sys
import tempfile

import grpc

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAILED:", what, file=sys.stderr)


def varint(b, i):
    v, shift = 0, 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, i
        shift += 7


def fields(b):
    """(field number, wire type, value) of each field of a message."""
    i, out = 0, []
    while i < len(b):
        key, i = varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(b, i)
        elif wire == 2:
            n, i = varint(b, i)
            v = b[i:i + n]
            i += n
        else:
            raise ValueError("unexpected wire type %d" % wire)
        out.append((num, wire, v))
    return out


def request(scenario, arg=0):
    s = scenario.encode()
    out = bytes([0x0A, len(s)]) + s
    if arg:
        out += bytes([0x10, arg])
    return out


def details_of(err):
    """google.rpc.Status's code and message, ErrorInfo's fields, the strata JSON."""
    md = dict(err.trailing_metadata() or ())
    raw = md.get("grpc-status-details-bin")
    check(raw is not None, "the status has details (grpc-status-details-bin)")
    if raw is None:
        return None
    status = {"code": 0, "message": "", "info": None, "json": None}
    for num, _, v in fields(raw):
        if num == 1:
            status["code"] = v
        elif num == 2:
            status["message"] = v.decode()
        elif num == 3:
            any_fields = dict((n, val) for n, _, val in fields(v))
            type_url = any_fields.get(1, b"").decode()
            value = any_fields.get(2, b"")
            if type_url == "type.googleapis.com/google.rpc.ErrorInfo":
                info = {"reason": "", "domain": "", "metadata": {}}
                for n, _, val in fields(value):
                    if n == 1:
                        info["reason"] = val.decode()
                    elif n == 2:
                        info["domain"] = val.decode()
                    elif n == 3:
                        entry = dict((k, x) for k, _, x in fields(val))
                        info["metadata"][entry[1].decode()] = entry[2].decode()
                status["info"] = info
            elif type_url == "type.googleapis.com/strata.v1.Error":
                for n, _, val in fields(value):
                    if n == 1:
                        status["json"] = json.loads(val.decode())
    return status


def call(channel, scenario, arg=0, timeout=30):
    run = channel.unary_unary("/strata.test.Probe/Run")  # bytes in, bytes out
    try:
        run(request(scenario, arg), timeout=timeout)
        return None
    except grpc.RpcError as e:
        return e


def main():
    # The server's records go to a file: a pipe read only at the end could fill and block it.
    log_file = tempfile.TemporaryFile()
    server = subprocess.Popen([sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file)
    try:
        port = int(server.stdout.readline())
        with grpc.insecure_channel("127.0.0.1:%d" % port) as channel:
            check(call(channel, "ok") is None, "scenario ok succeeds")

            # A known edge case: its code, the user's message with the ID, the
            # same ID in ErrorInfo and in the strata JSON, nothing internal.
            e = call(channel, "user")
            check(e is not None and e.code() == grpc.StatusCode.UNKNOWN, "user: code UNKNOWN")
            m = re.fullmatch(r"\[([^\]]+)\] account <sensitive:[0-9a-f]+> is over its monthly quota", e.details())
            check(m is not None, "user: message is [ID] and the user's text: %r" % e.details())
            d = details_of(e)
            ident = m.group(1) if m else None
            check(d["code"] == 2 and d["message"] == e.details(), "user: google.rpc.Status repeats code and message")
            check(d["info"] == {"reason": "KNOWN_EDGE_CASE", "domain": "strata", "metadata": {"id": ident}},
                  "user: ErrorInfo %r" % d["info"])
            j = d["json"]
            check(j["strata.version"] == 1 and j["strata.is_bug"] is False, "user: strata JSON header")
            check(j["strata.frames"][0]["layer"] == "intermediate" and j["strata.frames"][0]["id"] == ident,
                  "user: outermost frame and ID")
            check(j["strata.frames"][-1]["layer"] == "withheld", "user: the internal cause is withheld")
            everything = e.details() + json.dumps(j)
            for secret in ("row locked", "acme-co-7731", "accounts", "probe_service.hpp"):
                check(secret not in everything, "user: %r does not reach an untrusted client" % secret)

            # A bug: INTERNAL, the bug text with the ID, nothing of the cause.
            e = call(channel, "bug")
            check(e.code() == grpc.StatusCode.INTERNAL, "bug: code INTERNAL")
            m = re.fullmatch(r"\[([^\]]+)\] There was an unexpected issue; please report this as a bug\.", e.details())
            check(m is not None, "bug: message %r" % e.details())
            d = details_of(e)
            check(d["info"]["reason"] == "BUG" and d["info"]["metadata"]["id"] == (m.group(1) if m else None),
                  "bug: ErrorInfo")
            check(d["json"]["strata.is_bug"] is True, "bug: strata.is_bug")
            for secret in ("/var/lib", "nvme", "low_level", "Input/output"):
                check(secret not in e.details() + json.dumps(d["json"]), "bug: %r withheld" % secret)

            # A layer's own code.
            e = call(channel, "not_found", 44)
            check(e.code() == grpc.StatusCode.NOT_FOUND, "not_found: code NOT_FOUND")
            check(e.details().endswith("] no item sku-44 in this region"), "not_found: message %r" % e.details())

            # A message that is not UTF-8 arrives as UTF-8 (U+FFFD for the bad
            # byte), in grpc-message and in google.rpc.Status, which Python's
            # protobuf would refuse otherwise.
            e = call(channel, "latin1")
            check(e.code() == grpc.StatusCode.NOT_FOUND, "latin1: code NOT_FOUND")
            check(e.details().endswith("] no item named caf\ufffd in this region"), "latin1: message %r" % e.details())
            d = details_of(e)
            check(d is not None and d["message"] == e.details(), "latin1: google.rpc.Status's message is UTF-8")

            # The client's deadline: DEADLINE_EXCEEDED here, the server's work stopped.
            e = call(channel, "slow", timeout=0.2)
            check(e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, "slow: DEADLINE_EXCEEDED")
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    log_file.seek(0)
    log = log_file.read().decode(errors="replace")  # the record keeps a message's bytes as they were
    check("caller's deadline of" in log, "slow: the server's record says the caller's deadline passed")
    check("row locked by transaction 4242" in log, "the server's record keeps the internal cause")
    if FAILURES:
        print(log, file=sys.stderr)
        print("%d check(s) failed" % len(FAILURES), file=sys.stderr)
        return 1
    print("python client: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
