create table t (x int);
COPY t FROM STDIN;
1
\.
