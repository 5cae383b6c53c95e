# The submission image: solution.py and models/ on Ubuntu 18.04 with CUDA 11.8 and cuDNN 8,
# Python 3.8 and onnxruntime-gpu 1.16.3 (requirements/image.txt). Build with `make build`,
# which first makes the wheelhouse (`make wheels`): pip installs from it with --no-index, so
# only apt (for Python 3.8 on the CUDA base) needs the network.
#
# BASE_IMAGE: NVIDIA's last Ubuntu 18.04 image with cuDNN for CUDA 11.8. Pin it by digest
# (nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu18.04@sha256:<digest>) once it has been pulled on
# the GPU host: `docker inspect --format '{{index .RepoDigests 0}}' <tag>` prints the digest.
# No digest could be verified from this project's machines (no registry reachable), so the
# tag stands here and `make build BASE=cuda BASE_IMAGE=...@sha256:...` pins it. NVIDIA deletes
# end-of-life tags: mirror the image into the organizers' registry while it exists
# (`docker pull <tag>`, `docker tag <tag> registry.example.org/mirror/cuda:11.8.0-cudnn8-
# runtime-ubuntu18.04`, `docker push ...`) and build with BASE_IMAGE set to the mirror.
#
# The same file builds on a local Debian base without any registry (see the Makefile's
# BASE=local): --build-arg BASE_IMAGE=localhost/mcs-base:bookworm --build-arg PYTHON=python3
# --build-arg WHEELHOUSE=wheels/cp311.
ARG BASE_IMAGE=nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu18.04
FROM ${BASE_IMAGE}

# PYTHON: the interpreter the venv is made from; WHEELHOUSE: the wheels made for it.
ARG PYTHON=python3.8
ARG WHEELHOUSE=wheels/cp38

# Python 3.8 comes from bionic-updates; a base that already has PYTHON (the local Debian
# one) skips apt, so that build needs no network at all. Versions are not pinned: the
# bionic archive is frozen (end of life), the base digest fixes everything else.
# hadolint ignore=DL3008
RUN if ! command -v "${PYTHON}" >/dev/null; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3.8 python3.8-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# bionic's bundled pip 9 cannot install manylinux2014 wheels: upgrade it from the
# wheelhouse first, then install the pins, all without an index.
COPY ${WHEELHOUSE}/ /tmp/wheels/
COPY requirements/image.txt /tmp/requirements.txt
RUN "${PYTHON}" -m venv /opt/venv \
    && /opt/venv/bin/python -m pip install --no-cache-dir --no-index --find-links /tmp/wheels --upgrade pip \
    && /opt/venv/bin/python -m pip install --no-cache-dir --no-index --find-links /tmp/wheels -r /tmp/requirements.txt \
    && rm -rf /tmp/wheels /tmp/requirements.txt

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/data \
    OUTPUT_DIR=/output

COPY images/entrypoint.sh /usr/local/bin/entrypoint
WORKDIR /submission
# submitted/: what contracts/submitted_files.txt declares (solution.py, helper modules,
# models/), laid out by `make build` in its build context
COPY submitted/ ./

# nobody: the runner runs every container as 65534:65534 anyway; by hand it is the same.
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/entrypoint"]
CMD ["python", "solution.py"]
