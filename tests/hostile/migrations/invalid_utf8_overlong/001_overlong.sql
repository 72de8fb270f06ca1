select 'À¯';
