"""A minimal synchronous JSON-RPC client of `seqlens serve` for the benchmarks (no threads, stdlib)."""
import json
import subprocess


class Daemon:
    def __init__(self, binary):
        self.process = subprocess.Popen([binary, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, bufsize=0)
        self.next_id = 0

    def send(self, method, params):
        """Writes a request; returns its id."""
        self.next_id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.next_id

    def read(self):
        """The next message (a reply or a notification)."""
        length = None
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the daemon closed its output")
            if line == b"\r\n":
                break
            if line.lower().startswith(b"content-length"):
                length = int(line.split(b":")[1])
        body = bytearray()  # appending to bytes would copy the whole body per pipe read
        while len(body) < length:
            chunk = self.process.stdout.read(length - len(body))
            if not chunk:
                raise RuntimeError("the daemon closed its output")
            body += chunk
        return json.loads(body)

    def wait(self, ids):
        """The results of the requests `ids`, in order; notifications are skipped."""
        pending, results = set(ids), {}
        while pending:
            reply = self.read()
            if reply.get("id") in pending:
                if "error" in reply:
                    raise RuntimeError(reply["error"])
                pending.discard(reply["id"])
                results[reply["id"]] = reply["result"]
        return [results[i] for i in ids]

    def call(self, method, params):
        return self.wait([self.send(method, params)])[0]

    def peak_rss_mib(self):
        for line in open(f"/proc/{self.process.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self):
        self.call("shutdown", {})
        self.process.stdin.close()
        self.process.wait()
