#!/usr/bin/env bash
# The stand-in for the distribution's kafka-metadata-quorum.sh.
exec /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.MetadataQuorumCommand "$@"
