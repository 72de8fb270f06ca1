not even SQL ÿ
