"""The `segment` command for spark-submit, which runs `.py` files (the console script has no suffix).

    spark-submit scripts/spark_submit.py score --config mystore.yaml --set engine=spark

The session spark-submit made is the one the engine uses (its master and settings; the engine only sets
the session time zone to UTC).
"""

from segment.pipeline.cli import main

if __name__ == "__main__":
    main()
