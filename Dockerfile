# Multi-stage build: one compile, two images.
#   web:    the studio binary on a slim Debian
#   worker: the same binary plus the firmware toolchain (thumb targets,
#           arm-none-eabi binutils, QEMU for the emulated board)

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin tinystudio \
 && cp target/release/tinystudio /usr/local/bin/tinystudio

FROM debian:bookworm-slim AS web
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/tinystudio /usr/local/bin/tinystudio
ENV TINYSTUDIO_DATA_DIR=/data
VOLUME /data
EXPOSE 4000
ENTRYPOINT ["tinystudio"]
CMD ["serve", "--listen", "0.0.0.0:4000"]

FROM rust:1.95-bookworm AS worker
RUN rustup target add thumbv7em-none-eabihf thumbv7em-none-eabi thumbv6m-none-eabi \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
      gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/tinystudio /usr/local/bin/tinystudio
# The firmware crate is built by the worker's deploy jobs, the C library
# (the engine as a static library) by its library jobs; both build against
# the engine beside them (the firmware against the device crate too).
COPY --from=build /src/crates/firmware /opt/tinystudio/firmware
COPY --from=build /src/crates/clib /opt/tinystudio/clib
COPY --from=build /src/crates/engine /opt/tinystudio/engine
COPY --from=build /src/crates/device /opt/tinystudio/device
ENV TINYSTUDIO_DATA_DIR=/data \
    TINYSTUDIO_FIRMWARE_DIR=/opt/tinystudio/firmware \
    TINYSTUDIO_CLIB_DIR=/opt/tinystudio/clib
VOLUME /data
ENTRYPOINT ["tinystudio"]
CMD ["worker"]
