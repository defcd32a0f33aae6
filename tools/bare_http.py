"""What the bare cross-check scripts share: a free port, and the first
response of a server that is starting (connect until it accepts, one
GET /run/hello, the whole reply), with no coldbench code involved."""
import socket, time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_hello(port, timeout=10.0):
    """Connects until the port accepts, sends GET /run/hello and returns the
    reply once its JSON body is complete; asserts the instance says cold.
    Gives up after `timeout` seconds (a server that died never accepts)."""
    give_up = time.monotonic() + timeout
    while True:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
            break
        except ConnectionRefusedError:
            s.close()
            if time.monotonic() > give_up:
                raise TimeoutError(f"nothing accepted on port {port} in {timeout} s")
            time.sleep(0.00005)
    s.settimeout(timeout)
    with s:
        s.sendall(b"GET /run/hello HTTP/1.1\r\nhost: x\r\n\r\n")
        data = b""
        while b'"result"' not in data or not data.endswith(b"}"):
            chunk = s.recv(4096)
            if not chunk:
                raise RuntimeError("connection closed")
            data += chunk
    assert b'"cold":true' in data, data
    return data
