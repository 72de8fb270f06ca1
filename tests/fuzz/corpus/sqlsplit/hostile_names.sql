-- tables, columns, policies, constraints, indexes, functions, buckets and
-- schemas whose names hold quotes, parentheses, backslashes, %, newlines, ; -- /* $$
CREATE TABLE public."org units" (id int PRIMARY KEY, "owner org units" uuid CONSTRAINT "fk org units" REFERENCES auth.users (id));
CREATE INDEX "ix org units" ON public."org units" ("owner org units");
ALTER TABLE public."org units" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "org units" ON public."org units" FOR SELECT TO authenticated USING ((SELECT auth.uid()) = "owner org units");
COMMENT ON TABLE public."org units" IS 'made for org units';
CREATE FUNCTION public."fn org units"() RETURNS text LANGUAGE sql AS 'SELECT ''org units''';
INSERT INTO storage.buckets (id, name, public) VALUES ('b org units', 'org units', false);
CREATE TABLE public."it's" (id int PRIMARY KEY, "owner it's" uuid CONSTRAINT "fk it's" REFERENCES auth.users (id));
CREATE INDEX "ix it's" ON public."it's" ("owner it's");
ALTER TABLE public."it's" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "it's" ON public."it's" FOR SELECT TO authenticated USING ((SELECT auth.uid()) = "owner it's");
COMMENT ON TABLE public."it's" IS 'made for it''s';
CREATE FUNCTION public."fn it's"() RETURNS text LANGUAGE sql AS 'SELECT ''it''''s''';
INSERT INTO storage.buckets (id, name, public) VALUES ('b it''s', 'it''s', false);
CREATE TABLE public."say ""hi""" (id int PRIMARY KEY, "owner say ""hi""" uuid CONSTRAINT "fk say ""hi""" REFERENCES auth.users (id));
CREATE INDEX "ix say ""hi""" ON public."say ""hi""" ("owner say ""hi""");
ALTER TABLE public."say ""hi""" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "say ""hi""" ON public."say ""hi""" FOR SELECT TO authenticated USING ((SELECT auth.uid()) = "owner say ""hi""");
COMMENT ON TABLE public."say ""hi""" IS 'made for say "hi"';
CREATE FUNCTION public."fn say ""hi"""() RETURNS text LANGUAGE sql AS 'SELECT ''say "hi"''';
INSERT INTO storage.buckets (id, name, public) VALUES ('b say "hi"', 'say "hi"', false);
CREATE TABLE public."qty(" (id int PRIMARY KEY, "owner qty(" uuid CONSTRAINT "fk qty(" REFERENCES auth.users (id));
CREATE INDEX "ix qty(" ON public."qty(" ("owner qty(");
ALTER TABLE public."qty(" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "qty(" ON public."qty(" FOR SELECT TO authenticated USING ((SELECT auth.uid()) = "owner qty(");
COMMENT ON TABLE public."qty(" IS 'made for qty(';
CREATE FUNCTION public."fn qty("() RETURNS text LANGUAGE sql AS 'SELECT ''qty(''';
INSERT INTO storage.buckets (id, name, public) VALUES ('b qty(', 'qty(', false);
CREATE TABLE public."a)b" (id int PRIMARY KEY, "owner a)b" uuid CONSTRAINT "fk a)b" REFERENCES auth.users (id));
CREATE INDEX "ix a)b" ON public."a)b" ("owner a)b");
ALTER TABLE public."a)b" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "a)b" ON public."a)b" FOR SELECT TO authenticated USING ((SELECT auth.uid()) = "owner a)b");
COMMENT ON TABLE public."a)b" IS 'made for a)b';
CREATE FUNCTION public."fn a)b"() RETURNS text LANGUAGE sql AS 'SELECT ''a)b''';
INSERT INTO storage.buckets (id, name, public) VALUES ('b a)b', 'a)b', false);
CREATE TABLE public."back\slash" (id int PRIMARY KEY, "owner back\slash" uuid CONSTRAINT "fk back\slash" REFERENCES auth.users (id));
CREATE INDEX "ix back\slash" ON public."back\slash" ("owner back\slash");
ALTER TABLE public."back\slash" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "back\slash" ON public."back\slash" FOR SELECT TO authenticated USING ((SELECT auth.uid()) = "owner back\slash");
COMMENT ON TABLE public."back\slash" IS 'made for back\slash';
CREATE FUNCTION public."fn back\slash"() RETURNS text LANGUAGE sql AS 'SELECT ''back\slash''';
INSERT INTO storage.buckets (id, name, public) VALUES ('b back\slash', 'back\slash', false);
CREATE TABLE public."100%" (id int PRIMARY KEY, "owner 100%" uuid CONSTRAINT "fk 100%" REFERENCES auth.users (id));
CREATE INDEX "ix 100%" ON public."100%" ("owner 100%");
ALTER TABLE public."100%" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "100%" ON public."100%" FOR SELECT TO authenticated USING ((SELECT auth.uid()) = "owner 100%");
COMMENT ON TABLE public."100%" IS 'made for 100%';
CREATE FUNCTION public."fn 100%"() RETURNS text LANGUAGE sql AS 'SELECT ''100%''';
INSERT INTO storage.buckets (id, name, public) VALUES ('b 100%', '100%', false);
CREATE TABLE public."new
line" (id int PRIMARY KEY, "owner new
line" uuid CONSTRAINT "fk new
line" REFERENCES auth.users (id));
CREATE INDEX "ix new
line" ON public."new
line" ("owner new
line");
ALTER TABLE public."new
line" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "new
line" ON public."new
line" FOR SELECT TO authenticated USING ((SELECT auth.uid()) = "owner new
line");
COMMENT ON TABLE public."new
line" IS 'made for new
line';
CREATE FUNCTION public."fn new
line"() RETURNS text LANGUAGE sql AS 'SELECT ''new
line''';
INSERT INTO storage.buckets (id, name, public) VALUES ('b new
line', 'new
line', false);
CREATE TABLE public."Ünïcødé" (id int PRIMARY KEY, "owner Ünïcødé" uuid CONSTRAINT "fk Ünïcødé" REFERENCES auth.users (id));
CREATE INDEX "ix Ünïcødé" ON public."Ünïcødé" ("owner Ünïcødé");
ALTER TABLE public."Ünïcødé" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Ünïcødé" ON public."Ünïcødé" FOR SELECT TO authenticated USING ((SELECT auth.uid()) = "owner Ünïcødé");
COMMENT ON TABLE public."Ünïcødé" IS 'made for Ünïcødé';
CREATE FUNCTION public."fn Ünïcødé"() RETURNS text LANGUAGE sql AS 'SELECT ''Ünïcødé''';
INSERT INTO storage.buckets (id, name, public) VALUES ('b Ünïcødé', 'Ünïcødé', false);
CREATE TABLE public."semi; -- /* $$" (id int PRIMARY KEY, "owner semi; -- /* $$" uuid CONSTRAINT "fk semi; -- /* $$" REFERENCES auth.users (id));
CREATE INDEX "ix semi; -- /* $$" ON public."semi; -- /* $$" ("owner semi; -- /* $$");
ALTER TABLE public."semi; -- /* $$" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "semi; -- /* $$" ON public."semi; -- /* $$" FOR SELECT TO authenticated USING ((SELECT auth.uid()) = "owner semi; -- /* $$");
COMMENT ON TABLE public."semi; -- /* $$" IS 'made for semi; -- /* $$';
CREATE FUNCTION public."fn semi; -- /* $$"() RETURNS text LANGUAGE sql AS 'SELECT ''semi; -- /* $$''';
INSERT INTO storage.buckets (id, name, public) VALUES ('b semi; -- /* $$', 'semi; -- /* $$', false);
CREATE TABLE public."a&b <c>" (id int PRIMARY KEY, "owner a&b <c>" uuid CONSTRAINT "fk a&b <c>" REFERENCES auth.users (id));
CREATE INDEX "ix a&b <c>" ON public."a&b <c>" ("owner a&b <c>");
ALTER TABLE public."a&b <c>" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "a&b <c>" ON public."a&b <c>" FOR SELECT TO authenticated USING ((SELECT auth.uid()) = "owner a&b <c>");
COMMENT ON TABLE public."a&b <c>" IS 'made for a&b <c>';
CREATE FUNCTION public."fn a&b <c>"() RETURNS text LANGUAGE sql AS 'SELECT ''a&b <c>''';
INSERT INTO storage.buckets (id, name, public) VALUES ('b a&b <c>', 'a&b <c>', false);
CREATE TABLE public."x'""() \%
ü" (id int PRIMARY KEY, "owner x'""() \%
ü" uuid CONSTRAINT "fk x'""() \%
ü" REFERENCES auth.users (id));
CREATE INDEX "ix x'""() \%
ü" ON public."x'""() \%
ü" ("owner x'""() \%
ü");
ALTER TABLE public."x'""() \%
ü" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "x'""() \%
ü" ON public."x'""() \%
ü" FOR SELECT TO authenticated USING ((SELECT auth.uid()) = "owner x'""() \%
ü");
COMMENT ON TABLE public."x'""() \%
ü" IS 'made for x''"() \%
ü';
CREATE FUNCTION public."fn x'""() \%
ü"() RETURNS text LANGUAGE sql AS 'SELECT ''x''''"() \%
ü''';
INSERT INTO storage.buckets (id, name, public) VALUES ('b x''"() \%
ü', 'x''"() \%
ü', false);
CREATE SCHEMA "schema org units";
CREATE TABLE "schema org units"."parent org units" (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "kind org units" text NOT NULL CHECK ("kind org units" IN ('k org units')));
CREATE ROLE "role org units" NOLOGIN;
CREATE FUNCTION "schema org units"."fn org units"("arg org units" int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $body$ BEGIN RETURN 1; END $body$;
CREATE SCHEMA "schema it's";
CREATE TABLE "schema it's"."parent it's" (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "kind it's" text NOT NULL CHECK ("kind it's" IN ('k it''s')));
CREATE ROLE "role it's" NOLOGIN;
CREATE FUNCTION "schema it's"."fn it's"("arg it's" int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $body$ BEGIN RETURN 1; END $body$;
CREATE SCHEMA "schema say ""hi""";
CREATE TABLE "schema say ""hi"""."parent say ""hi""" (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "kind say ""hi""" text NOT NULL CHECK ("kind say ""hi""" IN ('k say "hi"')));
CREATE ROLE "role say ""hi""" NOLOGIN;
CREATE FUNCTION "schema say ""hi"""."fn say ""hi"""("arg say ""hi""" int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $body$ BEGIN RETURN 1; END $body$;
CREATE SCHEMA "schema qty(";
CREATE TABLE "schema qty("."parent qty(" (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "kind qty(" text NOT NULL CHECK ("kind qty(" IN ('k qty(')));
CREATE ROLE "role qty(" NOLOGIN;
CREATE FUNCTION "schema qty("."fn qty("("arg qty(" int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $body$ BEGIN RETURN 1; END $body$;
CREATE SCHEMA "schema a)b";
CREATE TABLE "schema a)b"."parent a)b" (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "kind a)b" text NOT NULL CHECK ("kind a)b" IN ('k a)b')));
CREATE ROLE "role a)b" NOLOGIN;
CREATE FUNCTION "schema a)b"."fn a)b"("arg a)b" int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $body$ BEGIN RETURN 1; END $body$;
CREATE SCHEMA "schema back\slash";
CREATE TABLE "schema back\slash"."parent back\slash" (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "kind back\slash" text NOT NULL CHECK ("kind back\slash" IN ('k back\slash')));
CREATE ROLE "role back\slash" NOLOGIN;
CREATE FUNCTION "schema back\slash"."fn back\slash"("arg back\slash" int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $body$ BEGIN RETURN 1; END $body$;
CREATE SCHEMA "schema 100%";
CREATE TABLE "schema 100%"."parent 100%" (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "kind 100%" text NOT NULL CHECK ("kind 100%" IN ('k 100%')));
CREATE ROLE "role 100%" NOLOGIN;
CREATE FUNCTION "schema 100%"."fn 100%"("arg 100%" int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $body$ BEGIN RETURN 1; END $body$;
CREATE SCHEMA "schema new
line";
CREATE TABLE "schema new
line"."parent new
line" (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "kind new
line" text NOT NULL CHECK ("kind new
line" IN ('k new
line')));
CREATE ROLE "role new
line" NOLOGIN;
CREATE FUNCTION "schema new
line"."fn new
line"("arg new
line" int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $body$ BEGIN RETURN 1; END $body$;
CREATE SCHEMA "schema Ünïcødé";
CREATE TABLE "schema Ünïcødé"."parent Ünïcødé" (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "kind Ünïcødé" text NOT NULL CHECK ("kind Ünïcødé" IN ('k Ünïcødé')));
CREATE ROLE "role Ünïcødé" NOLOGIN;
CREATE FUNCTION "schema Ünïcødé"."fn Ünïcødé"("arg Ünïcødé" int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $body$ BEGIN RETURN 1; END $body$;
CREATE SCHEMA "schema semi; -- /* $$";
CREATE TABLE "schema semi; -- /* $$"."parent semi; -- /* $$" (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "kind semi; -- /* $$" text NOT NULL CHECK ("kind semi; -- /* $$" IN ('k semi; -- /* $$')));
CREATE ROLE "role semi; -- /* $$" NOLOGIN;
CREATE FUNCTION "schema semi; -- /* $$"."fn semi; -- /* $$"("arg semi; -- /* $$" int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $body$ BEGIN RETURN 1; END $body$;
CREATE SCHEMA "schema a&b <c>";
CREATE TABLE "schema a&b <c>"."parent a&b <c>" (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "kind a&b <c>" text NOT NULL CHECK ("kind a&b <c>" IN ('k a&b <c>')));
CREATE ROLE "role a&b <c>" NOLOGIN;
CREATE FUNCTION "schema a&b <c>"."fn a&b <c>"("arg a&b <c>" int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $body$ BEGIN RETURN 1; END $body$;
CREATE SCHEMA "schema x'""() \%
ü";
CREATE TABLE "schema x'""() \%
ü"."parent x'""() \%
ü" (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "kind x'""() \%
ü" text NOT NULL CHECK ("kind x'""() \%
ü" IN ('k x''"() \%
ü')));
CREATE ROLE "role x'""() \%
ü" NOLOGIN;
CREATE FUNCTION "schema x'""() \%
ü"."fn x'""() \%
ü"("arg x'""() \%
ü" int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $body$ BEGIN RETURN 1; END $body$;
