select 'í €';
