-- Placeholder for a migration of another branch; dropped at merge.
CREATE TABLE placeholder_0006 (
	c1 INTEGER,
	c2 INTEGER,
	c3 INTEGER,
	c4 INTEGER,
	c5 INTEGER,
	c6 INTEGER,
	c7 INTEGER,
	c8 INTEGER,
	c9 INTEGER,
	c10 INTEGER,
	CONSTRAINT placeholder_0006_pkey PRIMARY KEY (c1)
);
