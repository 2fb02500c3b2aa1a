"""Airflow reads its configuration when first imported: point it at a throw-away home and at our DAG folder first."""
import os
import sys
import tempfile

DAGS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "dags"))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = DAGS
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
sys.path.insert(0, DAGS)
