#!/usr/bin/env bash
# The stand-in for the distribution's kafka-storage.sh.
exec /opt/kafka/bin/kafka-run-class.sh kafka.tools.StorageTool "$@"
