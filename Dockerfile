# momentum-maintd as a container sidecar: configuration from the
# environment (MOMENTUM_MAINTD_<SECTION>_<KEY>, DATABASE_URL), logs on
# stderr, /healthz for the health check.  It never forks and exits
# promptly on SIGTERM as PID 1.
#
#   docker build -t momentum-maintd .
#   docker run --rm -e DATABASE_URL=postgresql://app@db/momentum \
#       -e MOMENTUM_MAINTD_MIGRATIONS_BACKUP_COMMAND='pg_dump -Fc -f /backups/m.dump' momentum-maintd

FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential autoconf automake pkg-config \
        libpq-dev libevent-dev libconfig-dev libmd-dev libjson-c-dev libpg-query-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# No systemd in a container: sd_notify and journald are left out.
RUN autoreconf -fi \
 && ./configure --prefix=/usr --sysconfdir=/etc --without-systemd --enable-werror \
 && make -j"$(nproc)" \
 && make install DESTDIR=/out

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 libevent-2.1-7 libconfig9 libmd0 libjson-c5 curl \
        postgresql-client-15 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /
# The sample configuration stays as documentation; the environment configures.
RUN mv /etc/momentum-maintd/momentum-maintd.conf /usr/share/doc/momentum-maintd.conf.sample
ENV MOMENTUM_MAINTD_HTTP_LISTEN=0.0.0.0:9187 \
    MOMENTUM_MAINTD_LOG_FORMAT=json
EXPOSE 9187
USER 65532:65532
# the port of MOMENTUM_MAINTD_HTTP_LISTEN, so that changing it keeps the check
HEALTHCHECK --interval=30s --timeout=5s --start-period=10m \
    CMD curl -fsS "http://127.0.0.1:${MOMENTUM_MAINTD_HTTP_LISTEN##*:}/healthz" || exit 1
ENTRYPOINT ["/usr/sbin/momentum-maintd"]
CMD ["run"]
