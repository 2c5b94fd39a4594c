-- The tables of a Django 3.2 app, as 'manage.py sqlmigrate blog 0001' prints
-- them for PostgreSQL (python3-django 3.2.25 from Debian 12), from these models:
--
--     from django.db import models
--
--     class Post(models.Model):
--         created = models.DateTimeField()
--         title = models.CharField(max_length=100)
--
--     class Comment(models.Model):
--         created = models.DateTimeField()
--         post = models.ForeignKey(Post, on_delete=models.CASCADE)
--
--     class Like(models.Model):
--         comment = models.ForeignKey(Comment, on_delete=models.CASCADE)
--
--     class Tag(models.Model):
--         post = models.ForeignKey(Post, on_delete=models.CASCADE)
--         name = models.CharField(max_length=50)
--
--     class Reply(models.Model):
--         created = models.DateTimeField()
--         parent = models.ForeignKey('self', null=True, on_delete=models.CASCADE)
--
-- Every ForeignKey is DEFERRABLE INITIALLY DEFERRED with no ON DELETE
-- action: Django carries out on_delete=CASCADE itself.
--
--
-- Create model Comment
--
CREATE TABLE "blog_comment" ("id" bigserial NOT NULL PRIMARY KEY, "created" timestamp with time zone NOT NULL);
--
-- Create model Post
--
CREATE TABLE "blog_post" ("id" bigserial NOT NULL PRIMARY KEY, "created" timestamp with time zone NOT NULL, "title" varchar(100) NOT NULL);
--
-- Create model Tag
--
CREATE TABLE "blog_tag" ("id" bigserial NOT NULL PRIMARY KEY, "name" varchar(50) NOT NULL, "post_id" bigint NOT NULL);
--
-- Create model Reply
--
CREATE TABLE "blog_reply" ("id" bigserial NOT NULL PRIMARY KEY, "created" timestamp with time zone NOT NULL, "parent_id" bigint NULL);
--
-- Create model Like
--
CREATE TABLE "blog_like" ("id" bigserial NOT NULL PRIMARY KEY, "comment_id" bigint NOT NULL);
--
-- Add field post to comment
--
ALTER TABLE "blog_comment" ADD COLUMN "post_id" bigint NOT NULL CONSTRAINT "blog_comment_post_id_580e96ef_fk_blog_post_id" REFERENCES "blog_post"("id") DEFERRABLE INITIALLY DEFERRED; SET CONSTRAINTS "blog_comment_post_id_580e96ef_fk_blog_post_id" IMMEDIATE;
ALTER TABLE "blog_tag" ADD CONSTRAINT "blog_tag_post_id_8307e344_fk_blog_post_id" FOREIGN KEY ("post_id") REFERENCES "blog_post" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "blog_tag_post_id_8307e344" ON "blog_tag" ("post_id");
ALTER TABLE "blog_reply" ADD CONSTRAINT "blog_reply_parent_id_633fff5c_fk_blog_reply_id" FOREIGN KEY ("parent_id") REFERENCES "blog_reply" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "blog_reply_parent_id_633fff5c" ON "blog_reply" ("parent_id");
ALTER TABLE "blog_like" ADD CONSTRAINT "blog_like_comment_id_9b399b8a_fk_blog_comment_id" FOREIGN KEY ("comment_id") REFERENCES "blog_comment" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "blog_like_comment_id_9b399b8a" ON "blog_like" ("comment_id");
CREATE INDEX "blog_comment_post_id_580e96ef" ON "blog_comment" ("post_id");
