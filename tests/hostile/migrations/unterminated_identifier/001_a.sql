select "x from t;
