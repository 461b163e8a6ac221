"""A real gRPC server on loopback for tests, serving the standard health service (grpcio-health-checking).

    with HealthServer() as server:                    # server.target == "127.0.0.1:PORT"
        server.set("chat.Threads", "NOT_SERVING")     # "" is the whole server, SERVING from the start

`HealthServer(tls_folder=path)` serves TLS with a certificate for 127.0.0.1
issued by a throwaway CA (`path / "ca.pem"`, from tests/certs.py). Each
server runs in grpcio's own threads; entering returns once it is bound.
"""

from __future__ import annotations

from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tests.certs import server_context


class HealthServer:
    def __init__(self, tls_folder: Path | None = None, servicer: health_pb2_grpc.HealthServicer | None = None,
                 valid_days: int = 30):
        self.health = health.HealthServicer()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        health_pb2_grpc.add_HealthServicer_to_server(servicer or self.health, self.server)
        if tls_folder is None:
            port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            server_context(tls_folder, with_ca=True, valid_days=valid_days)  # writes cert.pem, key.pem, ca.pem
            credentials = grpc.ssl_server_credentials(
                [((tls_folder / "key.pem").read_bytes(), (tls_folder / "cert.pem").read_bytes())])
            port = self.server.add_secure_port("127.0.0.1:0", credentials)
        self.target = f"127.0.0.1:{port}"
        self.tls_folder = tls_folder

    def set(self, service: str, status: str) -> None:
        self.health.set(service, health_pb2.HealthCheckResponse.ServingStatus.Value(status))

    def __enter__(self) -> HealthServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=None)
