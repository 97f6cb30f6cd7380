"""sparkplane's demo and e2e job: a full shuffle, in phases.

Each phase runs TASKS map tasks that each take about TASK_SECONDS, then
shuffles every record (partitionBy: no map-side combine, so the shuffle is
as large as the data) and sums the values. With dynamic allocation the
backlog of tasks makes Spark add executors; the pause between phases lets
idle ones go; the next phase adds them again.

    shuffle.py [PHASES] [TASKS] [TASK_SECONDS] [PAUSE_SECONDS] [RECORDS]

Prints "RESULT sum=<n> expected=<n> ok=True" at the end.
"""
import sys
import time

from pyspark.sql import SparkSession


def main():
    args = [float(a) for a in sys.argv[1:]]
    phases, tasks, task_seconds, pause, records = (args + [1, 8, 1.0, 0, 400_000][len(args):])[:5]
    phases, tasks, records = int(phases), int(tasks), int(records)
    spark = SparkSession.builder.getOrCreate()
    sc = spark.sparkContext

    def slow(it):
        time.sleep(task_seconds)
        return it

    total = 0
    for phase in range(phases):
        if phase > 0 and pause > 0:
            print(f"PHASE idle for {pause}s", flush=True)
            time.sleep(pause)
        started = time.time()
        total = (sc.parallelize(range(records), tasks)
                 .mapPartitions(slow)
                 .map(lambda x: (x % 997, x))
                 .partitionBy(tasks)
                 .values()
                 .sum())
        print(f"PHASE {phase} done in {time.time() - started:.1f}s", flush=True)
    expected = records * (records - 1) // 2
    print(f"RESULT sum={total} expected={expected} ok={total == expected}", flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
