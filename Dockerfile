# The `smesh` executable in a container: `docker build -t smesh:latest .`
# The image runs any smesh command (`docker run --rm smesh:latest wallet --help`); the files from
# `smesh devnet manifest --format compose|k8s` run `smesh poet serve` and `smesh node run` from it.
#
# Two stages: randomx is published on PyPI as source only and is compiled here with a C++
# compiler that the runtime image does not need.  Its build uses -march=native, so build the
# image on (a CPU like) the machines that will run it.

FROM python:3.12-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/smesh
ENV PATH=/opt/smesh/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN pip install .

FROM python:3.12-slim
# an unprivileged user (uid 10001: the k8s manifests give the data volumes this group) owning /data,
# so a fresh docker volume mounted there inherits the ownership
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/smesh smesh \
    && mkdir /data \
    && chown smesh:smesh /data
COPY --from=build /opt/smesh /opt/smesh
ENV PATH=/opt/smesh/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NUMBA_CACHE_DIR=/home/smesh/.cache/numba
USER 10001
WORKDIR /data
VOLUME ["/data"]
# p2p, PoET REST, public gRPC, JSON gateway (the private gRPC API stays on the container's loopback)
EXPOSE 7513 10010 10092 10095
ENTRYPOINT ["smesh"]
CMD ["--help"]
