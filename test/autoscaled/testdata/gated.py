"""A PySpark job whose map tasks wait for the test: each task sleeps until
GATE (a file) exists, or TIMEOUT seconds pass, then the records are
shuffled and summed. The test opens the gate once it has seen what it
waits for (an executor replaced, a consolidation blocked), so the job is
surely running at that moment without guessing durations.

    gated.py GATE TASKS RECORDS TIMEOUT

Prints "RESULT sum=<n> expected=<n> ok=True" at the end, and
"GATE timed out" if the gate never opened.
"""
import os
import sys
import time

from pyspark.sql import SparkSession


def main():
    gate, tasks, records, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    spark = SparkSession.builder.getOrCreate()
    sc = spark.sparkContext

    def wait_for_gate(it):
        deadline = time.time() + timeout
        while not os.path.exists(gate) and time.time() < deadline:
            time.sleep(0.5)
        return it

    total = (sc.parallelize(range(records), tasks)
             .mapPartitions(wait_for_gate)
             .map(lambda x: (x % 997, x))
             .partitionBy(tasks)
             .values()
             .sum())
    if not os.path.exists(gate):
        print("GATE timed out", flush=True)
    expected = records * (records - 1) // 2
    print(f"RESULT sum={total} expected={expected} ok={total == expected}", flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
