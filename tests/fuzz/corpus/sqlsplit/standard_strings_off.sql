SET standard_conforming_strings = off;
SELECT 'it\'s';
SELECT E'a\'b'
  'c';
