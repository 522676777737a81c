DROP TABLE splits;
