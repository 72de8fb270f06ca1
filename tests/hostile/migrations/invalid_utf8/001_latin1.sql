select 1;
select 'café';
