from pipeline.text.normalize import clean_text
from pipeline.text.pages import looks_like_author, parse_page

BOILERPLATE = ("cùng chuyên mục", "Kéo xuống để xem tiếp nội dung", "Xem thêm trên infonet")


def test_seed_page_title_author_and_no_boilerplate(seed_page):
    page = parse_page(clean_text(seed_page.read_text(encoding="utf-8")))
    assert page.title == "Hà Nội nghiêm túc triển khai Nghị quyết Đại hội Đảng các cấp"
    assert page.author == "N. Huyền"
    for phrase in BOILERPLATE:
        assert phrase.lower() not in page.body.lower()
    assert page.body.startswith("Thành ủy Hà Nội vừa kết thúc")
    assert page.body.rstrip().endswith("đề ra.")


def test_other_site_layout_author_at_bottom_and_different_chrome():
    # Our own page in another site's shape: byline after the body, different navigation lines.
    page = parse_page(
        "Mưa lớn gây ngập nhiều tuyến phố\n"
        "Trận mưa kéo dài hơn hai giờ chiều qua khiến nhiều tuyến phố ngập sâu, giao thông ùn tắc kéo dài.\n"
        "Chia sẻ bài viết lên Facebook\n"
        "Lực lượng chức năng đã triển khai máy bơm tại các điểm trũng để tiêu thoát nước cho người dân.\n"
        "Minh Anh\n"
        "Tin liên quan\n"
        "Đọc nhiều nhất\n"
        "Bình luận (12)\n"
    )
    assert page.title == "Mưa lớn gây ngập nhiều tuyến phố"
    assert page.author == "Minh Anh"
    assert "Chia sẻ" not in page.body and "Tin liên quan" not in page.body and "Bình luận" not in page.body
    assert page.body.count("\n") == 1


def test_prose_is_never_taken_for_boilerplate():
    body = "Câu thứ nhất của bài viết khá ngắn.\nCâu cuối cùng cũng là nội dung thật."
    assert parse_page("Tiêu đề\n" + body).body == body


def test_looks_like_author():
    assert looks_like_author("N. Huyền")
    assert looks_like_author("Theo Minh Anh")
    assert not looks_like_author("cùng chuyên mục")
    assert not looks_like_author("Xem thêm trên infonet 22 647")
    assert not looks_like_author("Đây là một câu văn rất dài và không phải tên của tác giả nào cả.")
