"""What a replica's environment says about its topics and its Kafka client
(docs/api.md#what-a-replica-receives): read once by the trusted host, never by the worker.
"""

import json

from belt_lib import INPUT_TOPIC_PREFIX


def security_config(environ):
    """The client's credentials, when the cluster wants them (KAFKA_SECURITY_PROTOCOL,
    KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD), and the file of the CAs that
    sign the brokers' certificates (KAFKA_SSL_CA_LOCATION). Only this process has them."""
    names = {"KAFKA_SECURITY_PROTOCOL": "security.protocol",
             "KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
             "KAFKA_SASL_MECHANISM": "sasl.mechanism",
             "KAFKA_SASL_USERNAME": "sasl.username",
             "KAFKA_SASL_PASSWORD": "sasl.password"}
    return {option: environ[name] for name, option in names.items() if environ.get(name)}


class Settings:
    """What the replica's environment says about its topics (docs/api.md#what-a-replica-receives)."""

    def __init__(self, environ):
        self.bootstrap = environ["KAFKA_BOOTSTRAP_SERVERS"]
        self.group = environ.get("KAFKA_CONSUMER_GROUP", "")
        self.inputs = [t for t in environ.get("KAFKA_INPUT_TOPICS", "").split(",") if t]
        self.output_types = json.loads(environ.get("OUTPUT_TYPES") or "null")
        self.destination = environ.get("KAFKA_DESTINATION_TOPIC") or "profile-update"
        self.error_topic = environ.get("KAFKA_ERROR_TOPIC", "")
        self.partition_offsets = json.loads(environ.get("PARTITION_OFFSETS") or "{}")
        self.belt = (environ.get("BELT_ID", ""), environ.get("BELT_VERSION", ""))
        self.client_id = environ.get("BELT_REPLICA_NAME") or f"belt-{self.belt[0]}"
        self.security = security_config(environ)

    def allowed_topics(self):
        """Where the worker's updates may go: the belt's output types' topics, else its
        destination topic."""
        if self.output_types:
            return {INPUT_TOPIC_PREFIX + output["name"] for output in self.output_types}
        return {self.destination}

    def consumer_config(self):
        return {
            **self.security,
            "bootstrap.servers": self.bootstrap,
            "group.id": self.group,
            "client.id": self.client_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # A replica killed without leaving the group holds its partitions this long.
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 1000,
            # An idle partition's fetch waits this long for data before answering; librdkafka's
            # 500 ms default put up to half a second on every event of a quiet belt.
            "fetch.wait.max.ms": 10,
        }

    def producer_config(self):
        return {
            **self.security,
            "bootstrap.servers": self.bootstrap,
            "client.id": self.client_id,
            "acks": "all",
            "linger.ms": 5,
            # Only a failed delivery calls back into Python (Pipeline.delivered): a report per
            # acknowledged record costs the host a Python call per update.
            "delivery.report.only.error": True,
        }
