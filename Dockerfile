# filedrop-monitor: the daemon in a slim image, running as an unprivileged user.
#   docker build -t filedrop-monitor .
#   docker run --rm -v "$PWD/monitor.toml:/etc/monitor/monitor.toml:ro" filedrop-monitor
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MONITOR_CONFIG=/etc/monitor/monitor.toml

RUN groupadd --system monitor \
    && useradd --system --gid monitor --home-dir /var/lib/monitor --create-home monitor

WORKDIR /opt/filedrop-monitor
COPY pyproject.toml constraints.txt README.md ./
COPY monitor ./monitor
RUN pip install -c constraints.txt '.[postgres,apprise]'

USER monitor
WORKDIR /var/lib/monitor
VOLUME ["/var/lib/monitor"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["monitor"]
CMD ["run"]
