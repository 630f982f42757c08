FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -e . && useradd --create-home cream && mkdir -p /var/lib/cream \
    && chown cream /var/lib/cream
USER cream
