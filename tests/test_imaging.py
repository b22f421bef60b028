from PIL import Image

from multisc.imaging import Remembered, image_key


def test_image_key_is_the_content_not_the_object():
    a = Image.new("RGB", (4, 3), (10, 20, 30))
    assert image_key(a) == image_key(a.copy())
    assert image_key(a) != image_key(Image.new("RGB", (3, 4), (10, 20, 30)))
    assert image_key(a) != image_key(a.convert("RGBA"))


def test_remembered_computes_each_new_image_once_and_keeps_a_batch_whole():
    images = [Image.new("RGB", (2, 2), (i, 0, 0)) for i in range(6)]
    calls: list[int] = []

    def compute(todo):
        calls.append(len(todo))
        return [image.getpixel((0, 0))[0] for image in todo]

    memo = Remembered[int](2)
    assert memo.get_many([images[0], images[0].copy(), images[1]], compute) == [0, 0, 1]
    assert calls == [2]  # the same image twice: computed once
    assert memo.get_many(images, compute) == list(range(6))
    assert calls == [2, 4]  # the two remembered ones are not computed again
    assert memo.get_many(images[::-1], compute) == list(range(5, -1, -1))
    assert calls == [2, 4]  # capacity grew to the batch of 6: all still remembered
    memo.put(Image.new("RGB", (2, 2), (9, 9, 9)), 99)  # a 7th: the least recent (5) goes
    assert memo.get_many(images[:1], compute) == [0] and calls == [2, 4]
    assert memo.get_many(images[5:], compute) == [5] and calls == [2, 4, 1]
